//! The stored shape of a config document: objects of named children down to leaves, and the
//! three edits apply makes to it (replace a subtree, merge an object, remove a subtree).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json::canonical;
use super::model::{split_path, Leaf, Secret, MAX_PATH_BYTES};
use super::ConfigError;

/// A node of a config document.
///
/// Objects may be empty: deleting the last child of an object keeps the object, as in Micro.
/// Depth is bounded because every path, including those made from object keys, is at most
/// [`MAX_PATH_BYTES`] long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigTree {
    /// A value.
    Leaf(Leaf),
    /// Named children, in key order.
    Object(BTreeMap<String, ConfigTree>),
}

impl Default for ConfigTree {
    fn default() -> Self {
        ConfigTree::Object(BTreeMap::new())
    }
}

impl ConfigTree {
    /// Returns the node at `segments`; `None` when absent or when a leaf sits on the way.
    pub fn get(&self, segments: &[&str]) -> Option<&ConfigTree> {
        let mut node = self;
        for segment in segments {
            match node {
                ConfigTree::Object(children) => node = children.get(*segment)?,
                ConfigTree::Leaf(_) => return None,
            }
        }
        Some(node)
    }

    /// Returns the node at `segments` for editing; `None` when absent.
    pub(crate) fn get_mut(&mut self, segments: &[&str]) -> Option<&mut ConfigTree> {
        let mut node = self;
        for segment in segments {
            match node {
                ConfigTree::Object(children) => node = children.get_mut(*segment)?,
                ConfigTree::Leaf(_) => return None,
            }
        }
        Some(node)
    }

    /// Returns the node at `segments`, creating empty objects for what is missing; a leaf on
    /// the way is replaced by an object (an object overwrites a scalar).
    pub(crate) fn slot(&mut self, segments: &[&str]) -> &mut ConfigTree {
        let mut node = self;
        for segment in segments {
            node = node.object_mut().entry((*segment).to_owned()).or_default();
        }
        node
    }

    /// Removes the subtree at `segments` (non-empty); returns whether anything was there.
    pub(crate) fn remove(&mut self, segments: &[&str]) -> bool {
        let Some((last, parents)) = segments.split_last() else {
            return false;
        };
        let mut node = self;
        for segment in parents {
            match node {
                ConfigTree::Object(children) => match children.get_mut(*segment) {
                    Some(child) => node = child,
                    None => return false,
                },
                ConfigTree::Leaf(_) => return false,
            }
        }
        match node {
            ConfigTree::Object(children) => children.remove(*last).is_some(),
            ConfigTree::Leaf(_) => false,
        }
    }

    /// Merges a JSON object into this node, which sits at a path `path_len` bytes long.
    ///
    /// The node becomes an object (a leaf here is replaced) and each member is written at its
    /// key, in key order: objects merge recursively, anything else replaces the subtree there.
    /// Existing siblings are kept. A dotted key nests (`{"a.b":1}` writes `a.b`), as Micro
    /// joins keys into paths; an empty key or key segment is refused.
    pub(crate) fn merge(
        &mut self,
        object: Map<String, Value>,
        path_len: usize,
    ) -> Result<(), ConfigError> {
        self.object_mut();
        let mut members: Vec<(String, Value)> = object.into_iter().collect();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in members {
            let (segments, child_len) = child_path(&key, path_len)?;
            let child = self.slot(&segments);
            match value {
                Value::Object(inner) => child.merge(inner, child_len)?,
                other => *child = ConfigTree::Leaf(Leaf::Json(canonical(other).to_string())),
            }
        }
        Ok(())
    }

    /// Writes already-encrypted leaves under this node, which sits at a path `path_len` bytes
    /// long: the node becomes an object and each `(relative path, secret)` replaces the subtree
    /// at its relative path, in the given order.
    pub(crate) fn merge_secrets(
        &mut self,
        leaves: Vec<(String, Secret)>,
        path_len: usize,
    ) -> Result<(), ConfigError> {
        self.object_mut();
        for (relative, secret) in leaves {
            let (segments, _) = child_path(&relative, path_len)?;
            *self.slot(&segments) = ConfigTree::Leaf(Leaf::Secret(secret));
        }
        Ok(())
    }

    /// Makes this node an object (replacing a leaf) and returns its children.
    fn object_mut(&mut self) -> &mut BTreeMap<String, ConfigTree> {
        if let ConfigTree::Leaf(_) = self {
            *self = ConfigTree::default();
        }
        match self {
            ConfigTree::Object(children) => children,
            ConfigTree::Leaf(_) => unreachable!("a leaf was replaced by an object above"),
        }
    }
}

/// Validates a key (or relative path) below a path `path_len` bytes long; returns its segments
/// and the length of the full path.
fn child_path(key: &str, path_len: usize) -> Result<(Vec<&str>, usize), ConfigError> {
    let full_len = if path_len == 0 {
        key.len()
    } else {
        path_len + 1 + key.len()
    };
    if full_len > MAX_PATH_BYTES {
        return Err(ConfigError::InvalidArgument(format!(
            "a key of the value makes a path longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    if key.is_empty() {
        return Err(ConfigError::InvalidArgument(
            "the value has an empty key".into(),
        ));
    }
    Ok((split_path(key)?, full_len))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn leaf(text: &str) -> ConfigTree {
        ConfigTree::Leaf(Leaf::Json(text.into()))
    }

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn slot_replaces_leaves_on_the_way_and_get_stops_at_leaves() {
        let mut t = ConfigTree::default();
        *t.slot(&["a"]) = leaf("1");
        assert_eq!(t.get(&["a"]), Some(&leaf("1")));
        assert_eq!(t.get(&["a", "b"]), None);
        *t.slot(&["a", "b"]) = leaf("2");
        assert_eq!(t.get(&["a", "b"]), Some(&leaf("2")));
        assert!(matches!(t.get(&["a"]), Some(ConfigTree::Object(_))));
    }

    #[test]
    fn remove_reports_whether_something_was_there() {
        let mut t = ConfigTree::default();
        *t.slot(&["a", "b"]) = leaf("1");
        assert!(!t.remove(&["a", "c"]));
        assert!(!t.remove(&["a", "b", "c"]));
        assert!(t.remove(&["a", "b"]));
        assert_eq!(t.get(&["a"]), Some(&ConfigTree::default()));
    }

    #[test]
    fn dotted_keys_nest_and_empty_keys_are_refused() {
        let mut t = ConfigTree::default();
        t.merge(object(json!({"a.b": 1, "c": {"d": [2]}})), 0)
            .unwrap();
        assert_eq!(t.get(&["a", "b"]), Some(&leaf("1")));
        assert_eq!(t.get(&["c", "d"]), Some(&leaf("[2]")));
        for bad in [json!({"": 1}), json!({"x": {"a..b": 1}}), json!({"a.": 1})] {
            assert!(ConfigTree::default().merge(object(bad), 0).is_err());
        }
        let long = "k".repeat(MAX_PATH_BYTES - 2);
        assert!(ConfigTree::default()
            .merge(object(json!({ long.clone(): 1 })), 1)
            .is_ok());
        assert!(ConfigTree::default()
            .merge(object(json!({ long: 1 })), 2)
            .is_err());
    }
}
