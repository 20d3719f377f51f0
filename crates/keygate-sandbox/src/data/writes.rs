//! The write rules of writable collections, checked against the manifest and against the
//! records they read: a rule that names a field some referenced record lacks would fail a
//! request, so it fails the data tests instead.

use super::records::record_id;
use super::{Collection, MANIFEST_FILE};
use crate::rules::{
    BASE_FIELDS, Expr, FieldRule, FieldType, OrderedMap, WriteSpec, check_expr, check_rules,
    check_via,
};
use serde::Deserialize;
use serde_json::Value;

/// Checks collection `c`'s write rules.
pub(super) fn check_write(
    collections: &[Collection],
    c: usize,
    write: &WriteSpec,
) -> Result<(), String> {
    let name = collections[c].name.clone();
    let at = format!("{MANIFEST_FILE}: collection `{name}` write");
    let vias: Vec<String> = collections[c]
        .references
        .iter()
        .map(|(f, _)| f.clone())
        .collect();
    let vias: Vec<&str> = vias.iter().map(String::as_str).collect();
    check_rules(&write.fields, &vias, &format!("{at}.fields"))?;
    for (field, _) in &collections[c].references {
        if let Some(rule) = write.fields.get(field)
            && rule.ty != FieldType::String
        {
            return Err(format!(
                "{at}.fields.{field}: a reference field must be a string"
            ));
        }
    }
    for (field, expr) in &write.set.0 {
        if BASE_FIELDS.contains(&field.as_str()) || write.fields.contains(field) {
            return Err(format!(
                "{at}.set.{field}: is already a body field or a server field"
            ));
        }
        check_expr(expr, &vias, &format!("{at}.set.{field}"))?;
    }
    for field in write.fields.keys() {
        if BASE_FIELDS.contains(&field) {
            return Err(format!("{at}.fields.{field}: is set by the server"));
        }
    }
    for (n, condition) in write.conditions.iter().enumerate() {
        let here = format!("{at}.conditions[{n}]");
        check_via(&condition.via, &vias, &here)?;
        let kinds = usize::from(condition.one_of.is_some())
            + usize::from(condition.equals_field.is_some())
            + usize::from(condition.not_before_today);
        if kinds != 1 {
            return Err(format!(
                "{here}: needs exactly one of one_of, equals_field, not_before_today"
            ));
        }
        if let Some(field) = &condition.equals_field
            && !write.fields.contains(field)
        {
            return Err(format!(
                "{here}: equals_field `{field}` is not a body field"
            ));
        }
    }
    for (n, update) in write.updates.iter().enumerate() {
        let here = format!("{at}.updates[{n}]");
        check_via(&update.via, &vias, &here)?;
        for (field, expr) in &update.set.0 {
            if BASE_FIELDS.contains(&field.as_str()) {
                return Err(format!("{here}: cannot change `{field}`"));
            }
            check_expr(expr, &vias, &here)?;
        }
    }
    check_reads(collections, c, write, &at)
}

/// What the rules read from referenced records (rules stored in a field, lists to choose or
/// look up from) must be there in every such record.
fn check_reads(
    collections: &[Collection],
    c: usize,
    write: &WriteSpec,
    at: &str,
) -> Result<(), String> {
    let mut reads: Vec<(String, ReadKind)> = Vec::new();
    collect_reads(&write.fields, &mut reads);
    for (_, expr) in write
        .fields
        .0
        .iter()
        .filter_map(|(n, r)| r.default.as_ref().map(|d| (n, d)))
    {
        collect_expr_reads(expr, &mut reads);
    }
    for (_, expr) in write
        .set
        .0
        .iter()
        .chain(write.updates.iter().flat_map(|u| u.set.0.iter()))
    {
        collect_expr_reads(expr, &mut reads);
    }
    for (via, kind) in reads {
        let Some(target) = collections[c].reference(&via) else {
            continue;
        };
        let target = &collections[target];
        for record in &target.records {
            let here = format!("{at}: record {} of {}", record_id(record), target.name);
            match &kind {
                ReadKind::Rules(field) => {
                    let raw = record
                        .get(field)
                        .ok_or_else(|| format!("{here}: has no `{field}` (rules)"))?;
                    let rules = OrderedMap::<FieldRule>::deserialize(raw)
                        .map_err(|e| format!("{here}.{field}: {e}"))?;
                    check_rules(&rules, &[], &format!("{here}.{field}"))?;
                }
                ReadKind::List { list, key, field } => {
                    let items = record
                        .get(list)
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("{here}: `{list}` must be an array"))?;
                    for item in items {
                        if item.get(key).is_none_or(|k| !k.is_string()) {
                            return Err(format!(
                                "{here}: each element of `{list}` needs a string `{key}`"
                            ));
                        }
                        if let Some(field) = field
                            && !item.get(field).is_some_and(Value::is_number)
                        {
                            return Err(format!(
                                "{here}: each element of `{list}` needs a number `{field}`"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

enum ReadKind {
    Rules(String),
    List {
        list: String,
        key: String,
        field: Option<String>,
    },
}

fn collect_reads(rules: &OrderedMap<FieldRule>, reads: &mut Vec<(String, ReadKind)>) {
    for (_, rule) in &rules.0 {
        if let Some(from) = &rule.fields_from {
            reads.push((from.via.clone(), ReadKind::Rules(from.field.clone())));
        }
        if let Some(list) = &rule.one_of_list {
            reads.push((
                list.via.clone(),
                ReadKind::List {
                    list: list.list.clone(),
                    key: list.key.clone(),
                    field: None,
                },
            ));
        }
        if let Some(fields) = &rule.fields {
            collect_reads(fields, reads);
        }
    }
}

fn collect_expr_reads(expr: &Expr, reads: &mut Vec<(String, ReadKind)>) {
    match expr {
        Expr::Lookup(l) => reads.push((
            l.via.clone(),
            ReadKind::List {
                list: l.list.clone(),
                key: l.key.clone(),
                field: Some(l.field.clone()),
            },
        )),
        Expr::Multiply(a, b) | Expr::AddMonths(a, b) | Expr::AddDays(a, b) => {
            collect_expr_reads(a, reads);
            collect_expr_reads(b, reads);
        }
        Expr::Const(_) | Expr::Field(_) | Expr::Ref(_) | Expr::Today(_) => {}
    }
}
