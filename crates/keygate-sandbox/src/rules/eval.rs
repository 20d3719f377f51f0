//! The expression language of defaults and derived (`set`) fields: constants, fields of the
//! object being built or of a record it references, today's date, and date and money arithmetic.

use super::{Expr, Record, Validator, get_path};
use crate::date;
use keygate_core::Error;
use serde_json::Value;

impl Validator<'_> {
    /// Evaluates an expression against `obj` (the object being built). `Err` (500) only when
    /// the data does not hold what the manifest promises.
    pub(crate) fn eval(&self, expr: &Expr, obj: &Record) -> Result<Value, Error> {
        Ok(match expr {
            Expr::Const(v) => v.clone(),
            Expr::Field(path) => get_path(obj, path).cloned().unwrap_or(Value::Null),
            Expr::Ref(r) => {
                let record = self.resolver.via(&r.via, obj).ok_or_else(Error::internal)?;
                get_path(&record, &r.field).cloned().unwrap_or(Value::Null)
            }
            Expr::Lookup(l) => {
                let record = self.resolver.via(&l.via, obj).ok_or_else(Error::internal)?;
                let want = get_path(obj, &l.equals).ok_or_else(Error::internal)?;
                record
                    .get(&l.list)
                    .and_then(Value::as_array)
                    .and_then(|items| items.iter().find(|item| item.get(&l.key) == Some(want)))
                    .and_then(|item| item.get(&l.field))
                    .cloned()
                    .ok_or_else(Error::internal)?
            }
            Expr::Today(n) => Value::String(date::format(self.today + n)),
            Expr::Multiply(a, b) => match (self.eval(a, obj)?, self.eval(b, obj)?) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (a, b) => multiply(&a, &b).ok_or_else(Error::internal)?,
            },
            Expr::AddMonths(d, n) | Expr::AddDays(d, n) => {
                match (self.eval(d, obj)?, self.eval(n, obj)?) {
                    (Value::Null, _) | (_, Value::Null) => Value::Null,
                    (d, n) => {
                        let day = d
                            .as_str()
                            .and_then(date::parse)
                            .ok_or_else(Error::internal)?;
                        let n = n.as_i64().ok_or_else(Error::internal)?;
                        let result = match expr {
                            Expr::AddMonths(..) => date::add_months(day, n),
                            _ => day
                                .checked_add(n)
                                .filter(|d| date::civil_from_days(*d).0 <= 9999),
                        };
                        Value::String(date::format(result.ok_or_else(Error::internal)?))
                    }
                }
            }
        })
    }
}

/// a × b as an integer: exact for two integers, else rounded half away from zero.
fn multiply(a: &Value, b: &Value) -> Option<Value> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a.checked_mul(b).map(Value::from);
    }
    let product = (a.as_f64()? * b.as_f64()?).round();
    (product.is_finite() && product.abs() < 9.0e15).then(|| Value::from(product as i64))
}
