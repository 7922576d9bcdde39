//! `micro services`: the names of the services registered in the current namespace, sorted,
//! one per line (Micro's `Registry.ListServices` in the namespace's domain).

use std::collections::BTreeSet;

use anyhow::Result;
use micro_proto::registry::registry_client::RegistryClient;
use micro_proto::registry::{ListRequest, Options};

use super::root::Globals;
use crate::output;

/// Runs `micro services`.
pub async fn run(globals: &Globals) -> Result<()> {
    let session = globals.session()?;
    let request = ListRequest {
        options: Some(Options {
            ttl: 0,
            domain: session.namespace().to_owned(),
        }),
    };
    let client = session.client().await?;
    let services = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move {
                Ok(RegistryClient::new(ch)
                    .list_services(req)
                    .await?
                    .into_inner())
            }
        })
        .await?
        .services;
    let names: BTreeSet<String> = services.into_iter().map(|s| s.name).collect();
    output::print(names.into_iter().map(|n| n + "\n").collect::<String>());
    Ok(())
}
