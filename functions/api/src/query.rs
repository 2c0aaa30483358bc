//! Query-string parameters and the WorkOS list parameters (`limit`, `before`, `after`,
//! `order`). Unknown parameters are ignored, as SDKs send optional ones freely; a parameter
//! that is present but malformed is a 400 that names it.

use dsync_dynamo::{ListCursor, ListOrder, ListWindow, Page};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 100;

pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Self { pairs }
    }

    /// A single-valued parameter; given twice it is ambiguous, so a 400. Empty counts as absent
    /// (`?after=` is what a client sends for "no cursor").
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::invalid(format!("{name} is given more than once")));
        }
        Ok(first.filter(|v| !v.is_empty()))
    }

    /// Every value of a repeatable parameter, under any of `names`, comma lists split.
    pub fn all(&self, names: &[&str]) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.single("limit")? {
            None => Ok(DEFAULT_LIMIT),
            Some(text) => match text.parse::<usize>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
                _ => Err(ApiError::invalid(format!(
                    "limit must be an integer from 1 to {MAX_LIMIT}"
                ))),
            },
        }
    }

    /// `order`, defaulting to `default` (WorkOS lists are newest first; events oldest first).
    pub fn order(&self, default: ListOrder) -> Result<ListOrder, ApiError> {
        match self.single("order")? {
            None => Ok(default),
            Some("asc") => Ok(ListOrder::Asc),
            Some("desc") => Ok(ListOrder::Desc),
            Some(_) => Err(ApiError::invalid("order must be asc or desc")),
        }
    }

    /// `before` / `after` (at most one), each checked to be an id of the listed kind.
    pub fn cursor<T, E: std::fmt::Display>(
        &self,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<ListCursor>, ApiError> {
        let checked = |name: &str| -> Result<Option<String>, ApiError> {
            match self.single(name)? {
                None => Ok(None),
                Some(id) => match parse(id) {
                    Ok(_) => Ok(Some(id.to_owned())),
                    Err(e) => Err(ApiError::invalid(format!("{name} is {e}"))),
                },
            }
        };
        match (checked("before")?, checked("after")?) {
            (Some(_), Some(_)) => Err(ApiError::invalid("give before or after, not both")),
            (Some(id), None) => Ok(Some(ListCursor::Before(id))),
            (None, Some(id)) => Ok(Some(ListCursor::After(id))),
            (None, None) => Ok(None),
        }
    }

    /// The list window of an id-ordered list (newest first unless `order=asc`).
    pub fn window<T, E: std::fmt::Display>(
        &self,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<ListWindow, ApiError> {
        Ok(ListWindow {
            limit: self.limit()?,
            order: self.order(ListOrder::Desc)?,
            cursor: self.cursor(parse)?,
        })
    }
}

/// `list_metadata` cursors for a page: the first id leads back, the last id leads on.
pub fn cursors<T>(page: &Page<T>, id: impl Fn(&T) -> String) -> (Option<String>, Option<String>) {
    let before = page.items.first().filter(|_| page.has_previous).map(&id);
    let after = page.items.last().filter(|_| page.has_next).map(&id);
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsync_domain::ids::DirectoryId;

    #[test]
    fn limits_and_orders_are_checked() {
        assert_eq!(Query::parse(None).limit(), Ok(DEFAULT_LIMIT));
        assert_eq!(Query::parse(Some("limit=100")).limit(), Ok(100));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=-1",
            "limit=ten",
            "limit=1&limit=2",
        ] {
            let error = Query::parse(Some(bad)).limit().unwrap_err();
            assert!(error.message.contains("limit"), "{bad}: {error:?}");
        }
        assert_eq!(
            Query::parse(Some("order=asc")).order(ListOrder::Desc),
            Ok(ListOrder::Asc)
        );
        assert!(Query::parse(Some("order=up"))
            .order(ListOrder::Desc)
            .is_err());
    }

    #[test]
    fn cursors_must_be_ids_of_the_listed_kind() {
        let id = DirectoryId::generate().to_string();
        let query = Query::parse(Some(&format!("after={id}")));
        assert_eq!(
            query.cursor(DirectoryId::parse),
            Ok(Some(ListCursor::After(id.clone())))
        );
        let error = Query::parse(Some("before=directory_user_x"))
            .cursor(DirectoryId::parse)
            .unwrap_err();
        assert!(error.message.starts_with("before"));
        let both = Query::parse(Some(&format!("after={id}&before={id}")));
        assert!(both.cursor(DirectoryId::parse).is_err());
    }

    #[test]
    fn repeated_and_comma_separated_values_are_all_read() {
        let query = Query::parse(Some("events[]=a&events=b,c&events%5B%5D=d&other=x"));
        assert_eq!(query.all(&["events", "events[]"]), ["a", "b", "c", "d"]);
    }
}
