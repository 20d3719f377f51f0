//! Reads: lists, pages, records and filters, compared with the files.

use super::*;

pub(crate) fn list_has_envelope_and_default_limit_of_10(c: &Ctx) {
    let r = c.get(&c.reader, "/v1/transactions");
    r.expect_status(200);
    // Once, exactly: the fast path once appended a second copy ("application/json, application/json").
    for again in [&r, &c.get(&c.reader, "/v1/transactions")] {
        let types: Vec<&str> = again
            .headers
            .iter()
            .filter(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(types, ["application/json"], "{again}");
    }
    let file = c.data.records("transactions");
    assert!(file.len() > 10, "the test needs more than 10 transactions");
    assert_eq!(r.json["object"], "list", "{r}");
    assert_eq!(r.json["has_more"], true, "{r}");
    let data = r.json["data"].as_array().expect("data");
    assert_eq!(data.len(), 10, "default limit is 10: {r}");
    assert_eq!(
        data.as_slice(),
        &file[..10],
        "first page = first 10 of the file"
    );
    for record in data {
        assert_eq!(record["object"], "transaction", "{record}");
        assert_eq!(record["livemode"], false, "{record}");
    }

    let r = c.get(&c.reader, "/v1/transactions?limit=1");
    r.expect_status(200);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r.json["data"][0], file[0]);
    assert_eq!(r.json["has_more"], true, "{r}");

    let r = c.get(&c.reader, "/v1/transactions?limit=100");
    r.expect_status(200);
    assert_eq!(
        r.json["data"].as_array().unwrap().len(),
        100.min(file.len())
    );

    // The whole of a small collection on one page: has_more is false.
    let owners = c.data.records("owners");
    let r = c.get(&c.reader, "/v1/owners?limit=100");
    r.expect_status(200);
    assert_eq!(r.json["data"].as_array().unwrap().as_slice(), owners);
    assert_eq!(r.json["has_more"], false, "{r}");
}

pub(crate) fn limit_bounds_and_bad_cursors_are_400(c: &Ctx) {
    for q in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "limit=1.5",
    ] {
        let r = c.get(&c.reader, &format!("/v1/owners?{q}"));
        assert_error_on(&r, 400, "limit");
    }
    let r = c.get(&c.reader, "/v1/owners?starting_after=own_doesnotexist");
    assert_error_on(&r, 400, "starting_after");
    let r = c.get(&c.reader, "/v1/owners?starting_after=");
    assert_error_on(&r, 400, "starting_after");
    // A cursor from another collection is not in this list.
    let tx = c.data.records("transactions")[0]["id"].as_str().unwrap();
    let r = c.get(&c.reader, &format!("/v1/owners?starting_after={tx}"));
    assert_error_on(&r, 400, "starting_after");
}

pub(crate) fn pagination_walk_returns_every_collection_exactly_as_the_files(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let mut got = c.walk(&c.reader, &format!("/v1/{name}"), 100);
        let file = c.data.records(name);
        if c.data.grows(name) {
            // The ledger's records since the files' day come after the file's.
            assert!(got.len() >= file.len(), "walk of /v1/{name}");
            got.truncate(file.len());
        }
        assert_eq!(ids(&got), ids(file), "walk of /v1/{name}: ids and order");
        assert_eq!(
            c.data.all_settled(name, &got),
            c.data.all_settled(name, file),
            "walk of /v1/{name}: records"
        );
    }
}

pub(crate) fn pagination_walk_with_small_pages_covers_transactions(c: &Ctx) {
    // An odd page size, so the last page is partial.
    let file = c.data.records("transactions");
    let got = c.walk(&c.reader, "/v1/transactions", 37);
    assert_eq!(ids(&got[..file.len()]), ids(file));
    let all = c.walk(&c.reader, "/v1/transactions", 100);
    assert_eq!(ids(&got), ids(&all), "the same walk whatever the page size");
    let owners = c.data.records("owners");
    let got = c.walk(&c.reader, "/v1/owners", 1);
    assert_eq!(ids(&got), ids(owners));
}

pub(crate) fn get_by_id_returns_the_file_record(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let file = c.data.records(name);
        for record in [file.first(), file.get(file.len() / 2), file.last()]
            .into_iter()
            .flatten()
        {
            let id = record["id"].as_str().unwrap();
            let r = c.get(&c.reader, &format!("/v1/{name}/{id}"));
            r.expect_status(200);
            assert_eq!(
                c.data.settled(name, &r.json),
                c.data.settled(name, record),
                "GET /v1/{name}/{id}"
            );
            assert_eq!(r.json["object"], coll["object"]);
            assert_eq!(r.json["livemode"], false);
        }
    }
}

pub(crate) fn unknown_ids_are_404_json(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let prefix = coll["id_prefix"].as_str().unwrap();
        let r = c.get(&c.reader, &format!("/v1/{name}/{prefix}doesnotexist"));
        r.expect_status(404);
    }
    // An id of another collection is not found either.
    let owner = c.data.records("owners")[0]["id"].as_str().unwrap();
    c.get(&c.reader, &format!("/v1/accounts/{owner}"))
        .expect_status(404);
    // A nested list under an unknown parent.
    c.get(&c.reader, "/v1/accounts/ba_doesnotexist/transactions")
        .expect_status(404);
}

pub(crate) fn nested_lists_are_the_children_of_the_parent(c: &Ctx) {
    let mut checked = 0;
    for coll in &c.data.manifest {
        let child = coll["name"].as_str().unwrap();
        let refs = coll["references"].as_object().cloned().unwrap_or_default();
        for (field, parent) in refs {
            let parent = parent.as_str().unwrap();
            let file = c.data.records(child);
            // The parent with the most children, so the list is not trivially short.
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in file {
                if let Some(id) = r[&field].as_str() {
                    *counts.entry(id).or_default() += 1;
                }
            }
            let Some((parent_id, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
                continue;
            };
            let want: Vec<Value> = file
                .iter()
                .filter(|r| r[&field] == *parent_id)
                .cloned()
                .collect();
            let path = format!("/v1/{parent}/{parent_id}/{child}");
            let mut got = c.walk(&c.reader, &path, 100);
            if c.data.grows(child) {
                got.truncate(want.len());
            }
            assert_eq!(
                c.data.all_settled(child, &got),
                c.data.all_settled(child, &want),
                "{path}"
            );
            checked += 1;

            // A parent without children has an empty nested list, not a 404.
            if let Some(lonely) = c
                .data
                .records(parent)
                .iter()
                .find(|p| !counts.contains_key(p["id"].as_str().unwrap()))
            {
                let id = lonely["id"].as_str().unwrap();
                let r = c.get(&c.reader, &format!("/v1/{parent}/{id}/{child}"));
                r.expect_status(200);
                assert_eq!(r.json["data"], json!([]), "{r}");
                assert_eq!(r.json["has_more"], false, "{r}");
            }
        }
    }
    assert!(checked >= 5, "only {checked} nested lists checked");

    // The example, with paging and a filter inside the nested list.
    let account = c.data.records("transactions")[0]["account_id"]
        .as_str()
        .unwrap();
    let want: Vec<String> = c
        .data
        .records("transactions")
        .iter()
        .filter(|t| t["account_id"] == account && t["credit_debit"] == "debit")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    let mut got = ids(&c.walk(
        &c.reader,
        &format!("/v1/accounts/{account}/transactions?credit_debit=debit"),
        3,
    ));
    // The file's first, then those booked since its day.
    got.truncate(want.len());
    assert_eq!(got, want);
}

/// The text of a value as a filter compares it (sandbox-data/README.md).
pub(crate) fn filter_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn filters_match_the_files_exactly(c: &Ctx) {
    let mut checked = 0;
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let file = c.data.records(name);
        for field in coll["filterable"].as_array().cloned().unwrap_or_default() {
            let field = field.as_str().unwrap();
            // A value of the middle record, so the filter selects some but (usually) not all.
            let value = filter_text(&file[file.len() / 2][field]);
            let want: Vec<String> = file
                .iter()
                .filter(|r| filter_text(&r[field]) == value)
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            let mut got = c.walk_ids(&c.reader, &format!("/v1/{name}?{field}={}", enc(&value)));
            if c.data.grows(name) {
                got.truncate(want.len());
            }
            assert_eq!(got, want, "/v1/{name}?{field}={value}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} filters checked");

    // Two filters together are a conjunction.
    let file = c.data.records("transactions");
    let account = file[0]["account_id"].as_str().unwrap();
    let category = file[0]["category"].as_str().unwrap();
    let want: Vec<String> = file
        .iter()
        .filter(|t| t["account_id"] == account && t["category"] == category)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let mut got = c.walk_ids(
        &c.reader,
        &format!("/v1/transactions?account_id={account}&category={category}"),
    );
    got.truncate(want.len());
    assert_eq!(got, want);

    // A value nothing has: an empty list.
    let r = c.get(&c.reader, "/v1/accounts?currency=XXX");
    r.expect_status(200);
    assert_eq!(r.json["data"], json!([]), "{r}");
    assert_eq!(r.json["has_more"], false, "{r}");
}

pub(crate) fn unknown_or_repeated_filters_are_400(c: &Ctx) {
    // Not filterable (a real field, but not declared), and unknown.
    let r = c.get(&c.reader, "/v1/transactions?amount=100");
    assert_error_on(&r, 400, "amount");
    let r = c.get(&c.reader, "/v1/owners?colour=blue");
    assert_error_on(&r, 400, "colour");
    // Repeated filter: no silent "last wins".
    let r = c.get(&c.reader, "/v1/accounts?currency=EUR&currency=GBP");
    assert_error_on(&r, 400, "currency");
    // A key in the query string is not a credential and not a filter either.
    let r = c.get(&c.reader, "/v1/owners?api_key=sk_test_x");
    assert_error_on(&r, 400, "api_key");
}

/// Paths no route names are the gateway's 404, before the sandbox is reached.
pub(crate) fn unknown_nested_list_is_404(c: &Ctx) {
    let account = c.data.records("accounts")[0]["id"].as_str().unwrap();
    let owner = c.data.records("owners")[0]["id"].as_str().unwrap();
    for path in [
        format!("/v1/accounts/{account}/quotes"),
        format!("/v1/accounts/{account}/transactions/x"),
        format!("/v1/owners/{owner}/nothing"),
    ] {
        let r = c.req(&c.reader, "GET", &path).send();
        r.expect_status(404);
        assert!(r.text().contains("No such route"), "{r}");
    }
}

pub(crate) fn product_key_required_on_product_routes_not_on_sandbox_tools(c: &Ctx) {
    let t = &c.reader;
    // No product key: 400 naming the header.
    let r = c.gw.get("/v1/owners").bearer(&t.secret).send();
    assert_error_on(&r, 400, "X-Product-Key");
    // Another product's key: 404.
    let r =
        c.gw.get("/v1/owners")
            .bearer(&t.secret)
            .product_key(&t.product_keys["insurance"])
            .send();
    r.expect_status(404);
    // The right one, through each credential header: the sandbox answers.
    for req in [
        c.gw.get("/v1/owners").bearer(&t.secret),
        c.gw.get("/v1/owners").basic(&t.secret, ""),
        c.gw.get("/v1/owners").api_key(&t.secret),
    ] {
        let r = sandboxed(req.product_key(&t.product_keys["bank_data"]).send());
        r.expect_status(200);
    }
    // The sandbox's own endpoints need no product key.
    let r = sandboxed(c.gw.get("/v1/sandbox/scenarios").bearer(&t.secret).send());
    r.expect_status(200);
}
