//! Moving an account's JSON files of earlier versions (`ledger.json`,
//! `previews.json`) into the SQLite record, once and atomically.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use rusqlite::{Connection, params};

use super::{
    FILE, FORMAT, INSERT_PREVIEW, OLD_FORMAT, OLD_LEDGER, OLD_PREVIEWS, STUB_VERSION, VERSION,
    create_tables, db_error, insert_preview, status_name,
};
use crate::fsutil::{sync_dir, with_suffix, write_atomic};
use crate::mail::Preview;
use crate::store::StoreError;
use crate::store::ledger::{Entry, LoginRecord};

/// The JSON ledger of an earlier version, as it was written.
#[derive(serde::Deserialize)]
struct OldLedger {
    format: String,
    version: u32,
    #[serde(default)]
    login: LoginRecord,
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
}

/// Builds `store.sqlite` from the JSON files, if there are any: under a
/// temporary name, synced, then renamed into place.
pub(super) fn migrate(state_dir: &Path) -> Result<(), StoreError> {
    let old = state_dir.join(OLD_LEDGER);
    let ledger: Option<OldLedger> = match fs::read(&old) {
        Ok(bytes) => {
            let parsed: Result<OldLedger, String> =
                serde_json::from_slice(&bytes).map_err(|e| e.to_string());
            match parsed {
                Ok(l) if l.format == OLD_FORMAT && l.version == 1 => Some(l),
                Ok(l) if l.format == OLD_FORMAT && l.version == STUB_VERSION => {
                    // A stub whose database is gone: the record is lost.
                    return Err(StoreError::LedgerCorrupt {
                        kept_at: old,
                        detail: format!("{FILE} is missing"),
                    });
                }
                Ok(l) => {
                    let detail = format!(
                        "not a Letterbox ledger ({:?}, version {})",
                        l.format, l.version
                    );
                    let kept_at =
                        with_suffix(&old, &format!(".corrupt-{}", crate::store::now_unix()));
                    fs::rename(&old, &kept_at).map_err(|e| StoreError::io("set aside", &old, e))?;
                    return Err(StoreError::LedgerCorrupt { kept_at, detail });
                }
                Err(detail) => {
                    let kept_at =
                        with_suffix(&old, &format!(".corrupt-{}", crate::store::now_unix()));
                    fs::rename(&old, &kept_at).map_err(|e| StoreError::io("set aside", &old, e))?;
                    return Err(StoreError::LedgerCorrupt { kept_at, detail });
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::io("read", &old, e)),
    };
    let Some(ledger) = ledger else {
        return Ok(()); // a new store: the record is created empty
    };
    let previews: BTreeMap<String, Preview> = fs::read(state_dir.join(OLD_PREVIEWS))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let building = state_dir.join(format!("{FILE}.migrating"));
    let _ = fs::remove_file(&building);
    {
        let fail = |e: rusqlite::Error| db_error("build", &building, e);
        let mut db = Connection::open(&building).map_err(fail)?;
        create_tables(&db).map_err(fail)?;
        let tx = db.transaction().map_err(fail)?;
        tx.execute_batch(&format!(
            "INSERT INTO meta(key, value) VALUES ('format', '{FORMAT}'), ('version', {VERSION});"
        ))
        .map_err(fail)?;
        tx.execute(
            "INSERT INTO login(id, last_login_unix, login_delay_secs, auth_method) VALUES (1, ?1, ?2, ?3)",
            params![
                ledger.login.last_login_unix,
                ledger.login.login_delay_secs,
                ledger.login.auth_method
            ],
        )
        .map_err(fail)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO entries(key, size_bytes, first_seen_unix, status, file,
                        downloaded_unix, on_server, deleted_on_server, size_mismatch)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(fail)?;
            for (key, e) in &ledger.entries {
                insert
                    .execute(params![
                        key,
                        e.size_bytes as i64,
                        e.first_seen_unix,
                        status_name(e.status),
                        e.file,
                        e.downloaded_unix,
                        e.on_server,
                        e.deleted_on_server,
                        e.size_mismatch,
                    ])
                    .map_err(fail)?;
            }
            let mut insert = tx.prepare(INSERT_PREVIEW).map_err(fail)?;
            for (key, p) in &previews {
                insert_preview(&mut insert, key, p).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)?;
    }
    // The rollback journal is gone with the commit; make the file durable,
    // then put it in place in one rename.
    fs::File::open(&building)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("sync", &building, e))?;
    let path = state_dir.join(FILE);
    fs::rename(&building, &path).map_err(|e| StoreError::io("move into place", &path, e))?;
    sync_dir(state_dir)?;
    tracing::info!(
        entries = ledger.entries.len(),
        previews = previews.len(),
        "the record was moved from {OLD_LEDGER} to {FILE}"
    );
    Ok(())
}

/// Once `store.sqlite` is in place: the JSON ledger becomes a stub that
/// earlier versions refuse to read, and the old preview cache goes. Runs
/// at every open, so a crash between the rename and this is settled.
pub(super) fn finish_migration(state_dir: &Path) -> Result<(), StoreError> {
    let _ = fs::remove_file(state_dir.join(format!("{FILE}.migrating")));
    let old = state_dir.join(OLD_LEDGER);
    let is_real_ledger = fs::read(&old)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("version").and_then(|v| v.as_u64()) == Some(1));
    if is_real_ledger {
        let stub = serde_json::json!({
            "format": OLD_FORMAT,
            "version": STUB_VERSION,
            "moved_to": FILE,
            "note": "This account's record is in store.sqlite now; this Letterbox version is newer than the one reading this file.",
        });
        write_atomic(&old, stub.to_string().as_bytes())?;
    }
    let previews = state_dir.join(OLD_PREVIEWS);
    if previews.exists() {
        let _ = fs::remove_file(&previews);
    }
    Ok(())
}
