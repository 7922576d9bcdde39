//! openraft's storage conformance suite, run on our sled log store and state machine.

use openraft::testing::{StoreBuilder, Suite};
use tokio_util::task::TaskTracker;

use crate::log_store::LogStore;
use crate::state_machine::StateMachineStore;
use crate::typ::{StorageError, TypeConfig};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError> {
        let io = |e: &dyn std::error::Error| {
            StorageError::from(openraft::StorageIOError::write(openraft::AnyError::error(
                e,
            )))
        };
        let dir = tempfile::tempdir().map_err(|e| io(&e))?;
        let db = sled::open(dir.path().join("db")).map_err(|e| io(&e))?;
        let log = LogStore::open(&db, &TaskTracker::new(), None).map_err(|e| io(&e))?;
        let sm = StateMachineStore::open(&db).map_err(|e| io(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn sled_storage_passes_the_openraft_suite() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder)
}
