//! Dynamic commands: `micro SERVICE [HANDLER] ENDPOINT --flags` calls an endpoint known only
//! from the registry, as Micro's CLI does. Flags become the JSON request by the endpoint's
//! registered request schema (`--options_domain=x` → `{"options":{"domain":"x"}}`, `-` as well
//! as `_` between parts), values typed by the schema; `--help` lists endpoints or flags.

use anyhow::{anyhow, bail, Context, Result};
use micro_proto::registry::registry_client::RegistryClient;
use micro_proto::registry::{Endpoint, GetRequest, Options, Service, Value};
use serde::Serialize;
use serde_json::{json, Map};
use tonic::codegen::http::uri::PathAndQuery;

use super::root::Globals;
use crate::client::{JsonCodec, RpcError, CONTENT_TYPE_HEADER, JSON};
use crate::output;

/// Services whose registrations live in the `micro` domain whatever the namespace.
const BUILTIN: &[&str] = &[
    "api", "auth", "broker", "cluster", "config", "events", "network", "proxy", "registry",
    "router", "runtime", "store",
];

/// Positional words and `--flags` of a dynamic command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Words {
    /// Words that are not flags; the first is the service.
    pub positionals: Vec<String>,
    /// Flags in order of first appearance, each with every value given (a bare flag has none).
    pub flags: Vec<(String, Vec<String>)>,
    /// `--help` or `-h` was given.
    pub help: bool,
}

/// Splits a command line as Micro's dynamic command parser does: `--k=v`, `--k v` (the next
/// word, unless it is a flag), a bare `--k`, repeated flags accumulating.
pub fn split(args: &[String]) -> Result<Words> {
    let mut words = Words::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--help" || arg == "-h" {
            words.help = true;
            continue;
        }
        let Some(flag) = arg.strip_prefix("--") else {
            words.positionals.push(arg.clone());
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((_, v)) if v.contains('=') && !looks_like_json(v) => {
                bail!("Invalid flag: {arg}. Expected format: --foo=bar")
            }
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None if args.get(i).is_some_and(|next| !next.starts_with("--")) => {
                i += 1;
                (flag.to_owned(), Some(args[i - 1].clone()))
            }
            None => (flag.to_owned(), None),
        };
        if name.is_empty() {
            bail!("Invalid flag: {arg}. Expected format: --foo=bar");
        }
        match words.flags.iter_mut().find(|(k, _)| *k == name) {
            Some((_, values)) => values.extend(value),
            None => words.flags.push((name, value.into_iter().collect())),
        }
    }
    Ok(words)
}

fn looks_like_json(v: &str) -> bool {
    v.starts_with('{') || v.starts_with('[')
}

/// `Handler.Method` from the positionals: one word calls `<Service>.Call`, two name handler
/// and method, three or more use the last two.
pub fn endpoint_name(positionals: &[String]) -> Result<String> {
    let (handler, method) = match positionals {
        [svc] => (svc.as_str(), "call"),
        [a, b] => (a.as_str(), b.as_str()),
        [.., a, b] => (a.as_str(), b.as_str()),
        [] => bail!("Incorrect number of arguments"),
    };
    Ok(format!("{}.{}", title(handler), title(method)))
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// The command words of an endpoint: `Foo.BarBaz` → `foo barBaz`, just `barBaz` when the
/// handler is named like the service.
pub fn command_of(service: &str, endpoint: &str) -> String {
    match endpoint.split_once('.') {
        Some((handler, method)) if handler.eq_ignore_ascii_case(service) => lower_first(method),
        Some((handler, method)) => format!("{} {}", lower_first(handler), lower_first(method)),
        None => lower_first(endpoint),
    }
}

/// The leaf fields of a request schema, as (path, type): nested messages are walked, lists
/// and maps are leaves.
pub fn leaves(schema: &Value) -> Vec<(Vec<String>, String)> {
    fn walk(prefix: &[String], values: &[Value], out: &mut Vec<(Vec<String>, String)>) {
        for v in values {
            let mut path = prefix.to_vec();
            path.push(v.name.clone());
            if v.values.is_empty() || v.r#type.starts_with("[]") || v.r#type.starts_with("map[") {
                out.push((path, v.r#type.clone()));
            } else {
                walk(&path, &v.values, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&[], &schema.values, &mut out);
    out
}

/// Builds the JSON request from the flags, by the endpoint's request schema.
pub fn request_body(
    schema: Option<&Value>,
    flags: &[(String, Vec<String>)],
) -> Result<serde_json::Value> {
    let fields = schema.map(leaves).unwrap_or_default();
    let mut body = Map::new();
    for (flag, values) in flags {
        let wanted = flag.replace('-', "_");
        let Some((path, kind)) = fields.iter().find(|(p, _)| p.join("_") == wanted) else {
            bail!("Unknown flag: {flag}");
        };
        let value = coerce(kind, values).with_context(|| format!("flag --{flag}"))?;
        insert(&mut body, path, value)?;
    }
    Ok(serde_json::Value::Object(body))
}

fn insert(
    body: &mut Map<String, serde_json::Value>,
    path: &[String],
    value: serde_json::Value,
) -> Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty field path");
    };
    let mut at = body;
    for p in parents {
        at = at
            .entry(p.clone())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or_else(|| anyhow!("{p} is not an object"))?;
    }
    at.insert(last.clone(), value);
    Ok(())
}

/// Types a flag's values by the schema type: numbers, booleans (a bare flag is true), lists
/// (repeated flags or one comma-separated value), maps and messages (JSON), else text.
pub fn coerce(kind: &str, values: &[String]) -> Result<serde_json::Value> {
    if let Some(elem) = kind.strip_prefix("[]") {
        if elem == "uint8" {
            return single(values).map(|v| json!(v));
        }
        if let [one] = values {
            if looks_like_json(one) {
                return serde_json::from_str(one).context("expected a JSON list");
            }
        }
        let items: Vec<String> = values
            .iter()
            .flat_map(|v| v.split(',').map(str::to_owned))
            .collect();
        return items
            .iter()
            .map(|v| scalar(elem, v))
            .collect::<Result<Vec<_>>>()
            .map(serde_json::Value::Array);
    }
    if kind == "bool" && values.is_empty() {
        return Ok(json!(true));
    }
    let value = single(values)?;
    if kind.starts_with("map[") {
        return Ok(serde_json::from_str(&value).unwrap_or(json!(value)));
    }
    scalar(kind, &value)
}

fn single(values: &[String]) -> Result<String> {
    match values {
        [one] => Ok(one.clone()),
        [] => bail!("a value is required"),
        _ => bail!("only one value is allowed"),
    }
}

fn scalar(kind: &str, v: &str) -> Result<serde_json::Value> {
    Ok(match kind {
        "bool" => json!(v
            .parse::<bool>()
            .with_context(|| format!("{v:?} is not a bool"))?),
        "int32" | "int64" => json!(v
            .parse::<i64>()
            .with_context(|| format!("{v:?} is not an integer"))?),
        "uint32" | "uint64" => json!(v
            .parse::<u64>()
            .with_context(|| format!("{v:?} is not an unsigned integer"))?),
        "float32" | "float64" => json!(v
            .parse::<f64>()
            .with_context(|| format!("{v:?} is not a number"))?),
        "string" => json!(v),
        _ if looks_like_json(v) => {
            serde_json::from_str(v).with_context(|| format!("{v:?} is not valid JSON"))?
        }
        _ => json!(v),
    })
}

/// `micro SERVICE --help`.
pub fn service_help(service: &str, version: &str, endpoints: &[Endpoint]) -> String {
    let mut commands: Vec<String> = endpoints
        .iter()
        .map(|e| command_of(service, &e.name))
        .collect();
    commands.sort();
    let mut out = format!(
        "NAME:\n\tmicro {service}\n\nVERSION:\n\t{version}\n\nUSAGE:\n\tmicro {service} [command]\n\nCOMMANDS:\n"
    );
    for c in commands {
        out.push_str(&format!("\t{c}\n"));
    }
    out
}

/// `micro SERVICE ENDPOINT --help`.
pub fn endpoint_help(service: &str, endpoint: &Endpoint) -> String {
    let command = format!("micro {service} {}", command_of(service, &endpoint.name));
    let mut out = format!("NAME:\n\t{command}\n\nUSAGE:\n\t{command} [flags]\n\nFLAGS:\n");
    for (path, kind) in endpoint.request.as_ref().map(leaves).unwrap_or_default() {
        out.push_str(&format!("\t--{} {kind}\n", path.join("_")));
    }
    out
}

/// JSON indented with tabs, as Micro's CLI prints responses.
pub fn pretty(v: &serde_json::Value) -> Result<String> {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    v.serialize(&mut ser)?;
    buf.push(b'\n');
    Ok(String::from_utf8(buf)?)
}

/// Looks up `name` in the registry: builtin services in `micro`, others in the namespace and
/// then in `micro`.
async fn lookup(globals: &Globals, name: &str) -> Result<Service> {
    let unrecognized =
        format!("Unrecognized micro command: {name}. Please refer to 'micro --help'");
    let session = globals.session()?;
    let namespace = session.namespace().to_owned();
    let client = session.client().await?;
    let mut domains = vec![namespace.as_str()];
    if BUILTIN.contains(&name) {
        domains = vec!["micro"];
    } else if namespace != "micro" {
        domains.push("micro");
    }
    for domain in domains {
        let req = GetRequest {
            service: name.to_owned(),
            options: Some(Options {
                ttl: 0,
                domain: domain.to_owned(),
            }),
        };
        let found = client
            .call(|ch| {
                let req = client.request(req.clone());
                async move { Ok(RegistryClient::new(ch).get_service(req).await?.into_inner()) }
            })
            .await;
        match found {
            Ok(r) => {
                if let Some(svc) = r.services.into_iter().next() {
                    return Ok(svc);
                }
            }
            Err(RpcError::NotFound) => {}
            Err(e @ (RpcError::Connect { .. } | RpcError::Unavailable { .. })) => {
                bail!("{unrecognized} (the registry could not be asked: {e})")
            }
            Err(e) => return Err(e.into()),
        }
    }
    bail!(unrecognized)
}

/// Runs `micro SERVICE …` for a service that is not a builtin command.
pub async fn run(args: Vec<String>, globals: &Globals) -> Result<()> {
    let words = split(&args)?;
    let Some(service_name) = words.positionals.first().cloned() else {
        bail!("No command provided to micro. Please refer to 'micro --help'");
    };
    let service = lookup(globals, &service_name).await?;
    let endpoint_name = endpoint_name(&words.positionals)?;
    let endpoint = service.endpoints.iter().find(|e| e.name == endpoint_name);
    if words.help || (endpoint.is_none() && words.positionals.len() == 1) {
        let help = match (endpoint, words.positionals.len()) {
            (Some(e), n) if n > 1 => endpoint_help(&service_name, e),
            _ => service_help(&service_name, &service.version, &service.endpoints),
        };
        output::print(help);
        return Ok(());
    }
    let Some(endpoint) = endpoint else {
        bail!("Endpoint {endpoint_name} not found for service {service_name}");
    };
    let body = request_body(endpoint.request.as_ref(), &words.flags)?;
    let (handler, method) = endpoint
        .name
        .split_once('.')
        .ok_or_else(|| anyhow!("malformed endpoint {}", endpoint.name))?;
    let path = PathAndQuery::try_from(format!("/{service_name}.{handler}/{method}"))
        .map_err(|_| anyhow!("{service_name} {endpoint_name} is not a callable name"))?;
    let streaming = endpoint.metadata.get("stream").is_some_and(|s| s == "true");
    let client = globals.client().await?;
    let mut request = client.request(body);
    request.metadata_mut().insert(
        CONTENT_TYPE_HEADER,
        tonic::metadata::AsciiMetadataValue::from_static(JSON),
    );
    let channel = client.channel().await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| anyhow!("connecting to the server: {e}"))?;
    if streaming {
        let mut stream = grpc
            .server_streaming(request, path, JsonCodec)
            .await
            .map_err(|s| RpcError::from_status(&s))?
            .into_inner();
        while let Some(message) = stream
            .message()
            .await
            .map_err(|s| RpcError::from_status(&s))?
        {
            output::print(pretty(&message)?);
        }
        return Ok(());
    }
    let response = grpc
        .unary(request, path, JsonCodec)
        .await
        .map_err(|s| RpcError::from_status(&s))?
        .into_inner();
    output::print(pretty(&response)?);
    Ok(())
}

#[cfg(test)]
#[path = "dynamic_test.rs"]
mod tests;
