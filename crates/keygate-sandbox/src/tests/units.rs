//! The small pieces: IBANs, dates, expressions, formats.

use crate::rules::{Expr, OrderedMap, Record, Resolver, Validator};
use crate::{date, iban};
use serde_json::{Value, json};
use std::borrow::Cow;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn iban_check_digits_and_structure() {
    for valid in [
        "DE89370400440532013000",
        "GB29NWBK60161331926819",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "BE68539007547034",
        "NO9386011117947",
        "MT84MALT011000012345MTLCAST001S",
        "BR1800360305000010009795493C1", // not a SEPA country: generic checks only
    ] {
        assert!(iban::is_valid(valid), "{valid}");
    }
    for invalid in [
        "DE89370400440532013001",      // check digits
        "DE8937040044053201300",       // length for DE
        "de89370400440532013000",      // lower case
        "DE89 3704 0044 0532 0130 00", // spaces
        "GB29NWBK6016133192681!",
        "29GBNWBK60161331926819",
        "DE",
        "",
        "DE89370400440532013000DE89370400440532013000",
        "ÄE89370400440532013000",
    ] {
        assert!(!iban::is_valid(invalid), "{invalid}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn dates_parse_strictly_and_round_trip() {
    assert_eq!(date::parse("1970-01-01"), Some(0));
    assert_eq!(date::parse("2026-10-31"), Some(date::today(super::NOW)));
    assert_eq!(
        date::parse("2028-02-29").map(date::format).as_deref(),
        Some("2028-02-29")
    );
    for bad in [
        "2026-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "0000-01-01",
        "2026-1-01",
        "2026/01/01",
        "2026-01-01T00:00",
        "２０２６-01-01",
        "",
    ] {
        assert_eq!(date::parse(bad), None, "{bad}");
    }
    for day in (date::days_from_civil(1, 1, 1)..=date::days_from_civil(9999, 12, 31)).step_by(997) {
        let text = date::format(day);
        assert_eq!(date::parse(&text), Some(day), "{text}");
    }
    assert_eq!(date::today(-1), -1, "before 1970 rounds down");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn add_months_clamps_to_the_month_end() {
    let add = |d: &str, n: i64| date::format(date::add_months(date::parse(d).unwrap(), n).unwrap());
    assert_eq!(add("2026-01-31", 1), "2026-02-28");
    assert_eq!(add("2028-01-31", 1), "2028-02-29");
    assert_eq!(add("2026-05-15", 12), "2027-05-15");
    assert_eq!(add("2026-12-31", 2), "2027-02-28");
    assert_eq!(add("2026-03-31", -1), "2026-02-28");
    assert_eq!(
        date::add_months(date::parse("9999-12-01").unwrap(), 1),
        None
    );
    assert_eq!(date::add_months(0, i64::MAX), None);
}

struct NoRecords;
impl Resolver for NoRecords {
    fn via(&self, _: &str, _: &Record) -> Option<Cow<'_, Record>> {
        None
    }
}

fn eval(expr: Value, obj: Value) -> Result<Value, u16> {
    let expr: Expr = serde_json::from_value(expr).expect("an expression");
    let validator = Validator {
        resolver: &NoRecords,
        today: date::today(super::NOW),
    };
    validator
        .eval(&expr, obj.as_object().unwrap())
        .map_err(|e| e.status)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn expressions_compute_what_the_manifest_documents() {
    let obj = json!({"start": "2026-01-31", "n": 3, "factor": 1.35, "nested": {"v": "x"}, "nothing": null});
    assert_eq!(
        eval(json!({"const": [1, 2]}), obj.clone()),
        Ok(json!([1, 2]))
    );
    assert_eq!(
        eval(json!({"field": "nested.v"}), obj.clone()),
        Ok(json!("x"))
    );
    assert_eq!(
        eval(json!({"field": "absent"}), obj.clone()),
        Ok(Value::Null)
    );
    assert_eq!(
        eval(json!({"today": 30}), obj.clone()),
        Ok(json!("2026-11-30"))
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": 9600}, {"field": "factor"}]}),
            obj.clone()
        ),
        Ok(json!(12960))
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": 2901}, {"const": 1.5}]}),
            obj.clone()
        ),
        Ok(json!(4352)),
        "half away from zero"
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": -3}, {"const": 0.5}]}),
            obj.clone()
        ),
        Ok(json!(-2))
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": 7}, {"field": "n"}]}),
            obj.clone()
        ),
        Ok(json!(21))
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"field": "nothing"}, {"const": 2}]}),
            obj.clone()
        ),
        Ok(Value::Null)
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": "a"}, {"const": 2}]}),
            obj.clone()
        ),
        Err(500)
    );
    assert_eq!(
        eval(
            json!({"multiply": [{"const": i64::MAX}, {"const": 2}]}),
            obj.clone()
        ),
        Err(500)
    );
    assert_eq!(
        eval(
            json!({"add_days": [{"add_months": [{"field": "start"}, {"field": "n"}]}, {"const": -1}]}),
            obj.clone()
        ),
        Ok(json!("2026-04-29"))
    );
    assert_eq!(
        eval(
            json!({"add_days": [{"const": "9999-12-31"}, {"const": 1}]}),
            obj.clone()
        ),
        Err(500)
    );
    assert_eq!(
        eval(json!({"ref": {"via": "x", "field": "y"}}), obj),
        Err(500),
        "an unresolvable ref is broken data"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn formats_of_strings() {
    let rules: OrderedMap<crate::rules::FieldRule> = serde_json::from_value(json!({
        "email": {"type": "string", "format": "email"},
        "country": {"type": "string", "format": "country"},
        "currency": {"type": "string", "format": "currency"},
        "flag": {"type": "boolean"},
        "ratio": {"type": "number", "min": 0, "max": 1}
    }))
    .unwrap();
    let validator = Validator {
        resolver: &NoRecords,
        today: 0,
    };
    let check = |body: Value| -> Vec<String> {
        let mut errors = Vec::new();
        let body = body.as_object().unwrap().clone();
        validator
            .check_object(&rules, &body, "", &body, &[], &mut errors)
            .unwrap();
        errors.into_iter().map(|e| e.field).collect()
    };
    assert!(check(json!({"email": "a.b@example.co.uk", "country": "NL", "currency": "GBP", "flag": false, "ratio": 0.5})).is_empty());
    for bad in [
        "ab",
        "a@b",
        "@example.com",
        "a@@example.com",
        "a b@example.com",
        "a@example..com",
    ] {
        assert_eq!(check(json!({"email": bad})), ["email"], "{bad}");
    }
    assert_eq!(check(json!({"country": "nl"})), ["country"]);
    assert_eq!(check(json!({"country": "NLD"})), ["country"]);
    assert_eq!(check(json!({"currency": "eur"})), ["currency"]);
    assert_eq!(check(json!({"flag": "true"})), ["flag"]);
    assert_eq!(check(json!({"ratio": 1.5})), ["ratio"]);
    assert_eq!(check(json!({"ratio": "0"})), ["ratio"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ordered_maps_keep_document_order_and_refuse_duplicates() {
    let map: OrderedMap<i32> = serde_json::from_str(r#"{"z": 1, "a": 2, "m": 3}"#).unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    assert!(serde_json::from_str::<OrderedMap<i32>>(r#"{"a": 1, "a": 2}"#).is_err());
}
