//! Endpoint schemas for the registry, derived from the protobuf descriptors of our own
//! contract: each request and response becomes Micro's `Value` tree (field name, Go-style
//! type name, nested fields), which `micro <service> <endpoint> --help` and the dynamic
//! command flag mapping read back.

use std::collections::HashMap;

use micro_proto::registry as pb;
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};

/// Nested message levels described; deeper fields are listed by type only.
const MAX_DEPTH: usize = 3;

/// Every message and service of our protobuf packages, by full name.
pub struct Schemas {
    messages: HashMap<String, DescriptorProto>,
    /// `package.Service` → [(method, input type, output type, streaming)].
    services: HashMap<String, Vec<(String, String, String, bool)>>,
}

impl Schemas {
    /// Reads the descriptors compiled into `micro-proto`.
    pub fn load() -> Result<Schemas, prost::DecodeError> {
        let set = FileDescriptorSet::decode(micro_proto::FILE_DESCRIPTOR_SET)?;
        let mut messages = HashMap::new();
        let mut services = HashMap::new();
        for file in set.file {
            let package = file.package().to_owned();
            for m in file.message_type {
                collect(&format!(".{package}"), m, &mut messages);
            }
            for s in file.service {
                let methods = s
                    .method
                    .iter()
                    .map(|m| {
                        (
                            m.name().to_owned(),
                            m.input_type().to_owned(),
                            m.output_type().to_owned(),
                            m.client_streaming() || m.server_streaming(),
                        )
                    })
                    .collect();
                services.insert(format!("{package}.{}", s.name()), methods);
            }
        }
        Ok(Schemas { messages, services })
    }

    /// The endpoints of a protobuf service (`store.Store`), named `Handler.Method` as Micro
    /// names them, streaming ones marked `stream: "true"`.
    pub fn endpoints(&self, service: &str) -> Vec<pb::Endpoint> {
        let handler = service.rsplit('.').next().unwrap_or(service);
        let Some(methods) = self.services.get(service) else {
            return Vec::new();
        };
        methods
            .iter()
            .map(|(method, input, output, streaming)| pb::Endpoint {
                name: format!("{handler}.{method}"),
                request: Some(self.message_value(input, 0)),
                response: Some(self.message_value(output, 0)),
                metadata: if *streaming {
                    [("stream".to_owned(), "true".to_owned())].into()
                } else {
                    Default::default()
                },
            })
            .collect()
    }

    /// A message as a `Value`: named after its type, its fields as values.
    fn message_value(&self, full_name: &str, depth: usize) -> pb::Value {
        let short = short_name(full_name);
        pb::Value {
            name: short.clone(),
            r#type: short,
            values: self.fields(full_name, depth),
        }
    }

    fn fields(&self, full_name: &str, depth: usize) -> Vec<pb::Value> {
        let Some(m) = self.messages.get(full_name) else {
            return Vec::new();
        };
        m.field
            .iter()
            .map(|f| {
                let (kind, nested) = self.field_type(f, depth);
                pb::Value {
                    name: f.name().to_owned(),
                    r#type: kind,
                    values: nested,
                }
            })
            .collect()
    }

    /// The Go-style type name of a field (`string`, `[]int64`, `map[string]string`, a message
    /// name) and, for message fields, their own fields.
    fn field_type(&self, f: &FieldDescriptorProto, depth: usize) -> (String, Vec<pb::Value>) {
        if let Some(entry) = self.map_entry(f) {
            let kv: Vec<String> = entry
                .field
                .iter()
                .map(|e| self.field_type(e, MAX_DEPTH).0)
                .collect();
            if let [k, v] = kv.as_slice() {
                return (format!("map[{k}]{v}"), Vec::new());
            }
        }
        let (base, nested) = match f.r#type() {
            Type::Message | Type::Group => {
                let nested = if depth + 1 < MAX_DEPTH {
                    self.fields(f.type_name(), depth + 1)
                } else {
                    Vec::new()
                };
                (short_name(f.type_name()), nested)
            }
            Type::Enum => (short_name(f.type_name()), Vec::new()),
            scalar => (scalar_name(scalar).to_owned(), Vec::new()),
        };
        if f.label() == Label::Repeated {
            (format!("[]{base}"), nested)
        } else {
            (base, nested)
        }
    }

    fn map_entry(&self, f: &FieldDescriptorProto) -> Option<&DescriptorProto> {
        if f.label() != Label::Repeated || f.r#type() != Type::Message {
            return None;
        }
        self.messages
            .get(f.type_name())
            .filter(|m| m.options.as_ref().is_some_and(|o| o.map_entry()))
    }
}

fn collect(scope: &str, m: DescriptorProto, out: &mut HashMap<String, DescriptorProto>) {
    let name = format!("{scope}.{}", m.name());
    for nested in m.nested_type.clone() {
        collect(&name, nested, out);
    }
    out.insert(name, m);
}

fn short_name(full: &str) -> String {
    full.rsplit('.').next().unwrap_or(full).to_owned()
}

fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::Double => "float64",
        Type::Float => "float32",
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => "int64",
        Type::Uint64 | Type::Fixed64 => "uint64",
        Type::Int32 | Type::Sint32 | Type::Sfixed32 => "int32",
        Type::Uint32 | Type::Fixed32 => "uint32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "[]uint8",
        Type::Group | Type::Message | Type::Enum => "",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Flattens a schema into `path → type` for leaf fields (paths joined with `_`), as the
    /// dynamic command help lists them.
    fn leaf_fields(v: &pb::Value) -> BTreeMap<String, String> {
        fn walk(prefix: &str, values: &[pb::Value], out: &mut BTreeMap<String, String>) {
            for f in values {
                let path = if prefix.is_empty() {
                    f.name.clone()
                } else {
                    format!("{prefix}_{}", f.name)
                };
                if f.values.is_empty() {
                    out.insert(path, f.r#type.clone());
                } else {
                    walk(&path, &f.values, out);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk("", &v.values, &mut out);
        out
    }

    #[test]
    fn store_read_is_described_field_by_field() {
        let s = Schemas::load().unwrap();
        let eps = s.endpoints("store.Store");
        let read = eps.iter().find(|e| e.name == "Store.Read").unwrap();
        let fields = leaf_fields(read.request.as_ref().unwrap());
        assert_eq!(fields.get("key").map(String::as_str), Some("string"));
        assert_eq!(
            fields.get("options_prefix").map(String::as_str),
            Some("bool")
        );
        assert_eq!(
            fields.get("options_limit").map(String::as_str),
            Some("uint64")
        );
        let list = eps.iter().find(|e| e.name == "Store.List").unwrap();
        assert_eq!(
            list.metadata.get("stream").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn maps_repeated_and_recursive_types_are_named_like_go() {
        let s = Schemas::load().unwrap();
        let eps = s.endpoints("registry.Registry");
        let register = eps.iter().find(|e| e.name == "Registry.Register").unwrap();
        let req = register.request.as_ref().unwrap();
        let find = |n: &str| {
            req.values
                .iter()
                .find(|v| v.name == n)
                .unwrap()
                .r#type
                .clone()
        };
        assert_eq!(find("metadata"), "map[string]string");
        assert_eq!(find("nodes"), "[]Node");
        // Value is recursive; the description stops at MAX_DEPTH.
        let fields = leaf_fields(req);
        assert!(fields
            .keys()
            .all(|k| k.matches('_').count() < MAX_DEPTH + 1));
    }
}
