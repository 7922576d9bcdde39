//! What a config read returns: a document subtree with plain leaves parsed, ready to render
//! either with secrets masked or with secrets decrypted by the caller.

use std::collections::BTreeMap;

use serde_json::Value;

use super::json::to_compact_json;
use super::model::{Leaf, Secret, SECRET_MASK};
use super::{ConfigError, ConfigTree};

/// A read-only view of a config subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigView {
    /// A plain value (never an object; objects are [`ConfigView::Object`]).
    Value(Value),
    /// An encrypted value, for the caller to mask or decrypt.
    Secret(Secret),
    /// Named children, in key order.
    Object(BTreeMap<String, ConfigView>),
}

impl ConfigView {
    /// Builds the view of a stored subtree, parsing plain leaves.
    pub(crate) fn from_tree(tree: &ConfigTree) -> Result<Self, ConfigError> {
        Ok(match tree {
            ConfigTree::Leaf(Leaf::Json(text)) => ConfigView::Value(
                serde_json::from_str(text)
                    .map_err(|e| ConfigError::Storage(format!("corrupt config leaf: {e}")))?,
            ),
            ConfigTree::Leaf(Leaf::Secret(secret)) => ConfigView::Secret(secret.clone()),
            ConfigTree::Object(children) => ConfigView::Object(
                children
                    .iter()
                    .map(|(k, child)| Ok((k.clone(), ConfigView::from_tree(child)?)))
                    .collect::<Result<_, ConfigError>>()?,
            ),
        })
    }

    /// The JSON value with every secret shown as [`SECRET_MASK`] (Micro's Get without
    /// `options.secret`).
    pub fn masked(&self) -> Value {
        let reveal = |_: &Secret| Ok::<_, std::convert::Infallible>(Value::from(SECRET_MASK));
        match self.reveal(reveal) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// The JSON value with every secret replaced by what `decrypt` makes of it (Micro's Get
    /// with `options.secret`): `node` decrypts the ciphertext and parses the JSON text inside.
    /// The first error stops the walk.
    pub fn reveal<E>(
        &self,
        mut decrypt: impl FnMut(&Secret) -> Result<Value, E>,
    ) -> Result<Value, E> {
        self.reveal_with(&mut decrypt)
    }

    fn reveal_with<E, F>(&self, decrypt: &mut F) -> Result<Value, E>
    where
        F: FnMut(&Secret) -> Result<Value, E>,
    {
        match self {
            ConfigView::Value(value) => Ok(value.clone()),
            ConfigView::Secret(secret) => decrypt(secret),
            ConfigView::Object(children) => {
                let mut out = serde_json::Map::new();
                for (key, child) in children {
                    out.insert(key.clone(), child.reveal_with(decrypt)?);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// [`ConfigView::masked`] as compact JSON with sorted keys: Micro's `value.data`.
    pub fn render_masked(&self) -> String {
        to_compact_json(&self.masked())
    }

    /// [`ConfigView::reveal`] as compact JSON with sorted keys.
    pub fn render_revealed<E>(
        &self,
        decrypt: impl FnMut(&Secret) -> Result<Value, E>,
    ) -> Result<String, E> {
        self.reveal(decrypt).map(|v| to_compact_json(&v))
    }
}

/// Renders an optional view as Micro's Config.Get `value.data`: an absent path is `null`.
pub fn render_masked(view: Option<&ConfigView>) -> String {
    view.map_or_else(|| Value::Null.to_string(), ConfigView::render_masked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> ConfigView {
        let secret = Secret {
            key_id: "k1".into(),
            ciphertext: b"42".to_vec(),
        };
        ConfigView::Object(BTreeMap::from([
            ("n".to_owned(), ConfigView::Secret(secret)),
            ("b".to_owned(), ConfigView::Value(json!(true))),
        ]))
    }

    #[test]
    fn secrets_mask_or_reveal_through_the_callback() {
        assert_eq!(sample().render_masked(), r#"{"b":true,"n":"[secret]"}"#);
        let revealed = sample().render_revealed(|s| {
            serde_json::from_slice::<Value>(&s.ciphertext).map_err(|e| e.to_string())
        });
        assert_eq!(revealed.unwrap(), r#"{"b":true,"n":42}"#);
        let failed = sample().reveal(|_| Err::<Value, _>("no key"));
        assert_eq!(failed, Err("no key"));
        assert_eq!(render_masked(None), "null");
    }
}
