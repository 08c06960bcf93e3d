//! Small validators shared by the registry drafts. Each one records a message
//! under the field's name instead of failing fast, so a form or an API client
//! learns about every problem at once.

use std::fmt::Display;
use std::str::FromStr;

use super::FieldErrors;

pub struct Checker {
    pub errors: FieldErrors,
}

impl Checker {
    pub fn new() -> Checker {
        Checker {
            errors: FieldErrors::new(),
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_string())
            .or_insert_with(|| message.into());
    }

    /// A required text field, trimmed, at most `max` characters.
    pub fn text(&mut self, field: &str, value: &Option<String>, max: usize) -> String {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => {
                if v.chars().count() > max {
                    self.fail(field, format!("must be at most {max} characters"));
                }
                v.to_string()
            }
            _ => {
                self.fail(field, "is required");
                String::new()
            }
        }
    }

    /// An optional text field; blank means absent.
    pub fn opt_text(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        if v.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        }
        Some(v.to_string())
    }

    /// A required identifier parsed by its type; the type's own message says what is wrong.
    pub fn ident<T>(&mut self, field: &str, value: &Option<String>) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => match v.parse::<T>() {
                Ok(id) => Some(id),
                Err(e) => {
                    self.fail(field, e.to_string());
                    None
                }
            },
            None => {
                self.fail(field, "is required");
                None
            }
        }
    }

    pub fn opt_ident<T>(&mut self, field: &str, value: &Option<String>) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        match v.parse::<T>() {
            Ok(id) => Some(id),
            Err(e) => {
                self.fail(field, e.to_string());
                None
            }
        }
    }

    /// An integer in an inclusive range, with a default when absent.
    pub fn int_or(
        &mut self,
        field: &str,
        value: Option<i64>,
        min: i64,
        max: i64,
        default: i64,
    ) -> i64 {
        match value {
            None => default,
            Some(v) if (min..=max).contains(&v) => v,
            Some(_) => {
                self.fail(field, format!("must be between {min} and {max}"));
                default
            }
        }
    }

    pub fn opt_int(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) -> Option<i64> {
        let v = value?;
        if (min..=max).contains(&v) {
            Some(v)
        } else {
            self.fail(field, format!("must be between {min} and {max}"));
            None
        }
    }

    pub fn url(&mut self, field: &str, value: &Option<String>) -> Option<String> {
        let v = self.opt_text(field, value, 512)?;
        match url::Url::parse(&v) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Some(v),
            _ => {
                self.fail(field, "must be an http:// or https:// URL");
                None
            }
        }
    }

    pub fn finish(self) -> Result<(), super::RegistryError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(super::RegistryError::Invalid(self.errors))
        }
    }
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new()
    }
}

/// Parses a form's text box as an optional integer, recording a message when
/// it is not a number. HTML forms send every value as text.
pub fn form_int(errors: &mut FieldErrors, field: &str, value: &str) -> Option<i64> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    match v.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.insert(
                field.to_string(),
                format!("must be a whole number, got \"{v}\""),
            );
            None
        }
    }
}

/// Normalises a comma-separated list of feature flags: lowercase, unique, sorted.
pub fn feature_list(errors: &mut FieldErrors, field: &str, value: &str) -> String {
    let mut items: Vec<String> = Vec::new();
    for raw in value.split([',', ' ', ';']) {
        let item = raw.trim().to_ascii_lowercase();
        if item.is_empty() {
            continue;
        }
        if !item
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.insert(
                field.to_string(),
                format!("\"{item}\" is not a feature code (letters, digits, _ and - only)"),
            );
            continue;
        }
        if !items.contains(&item) {
            items.push(item);
        }
    }
    items.sort();
    items.join(",")
}
