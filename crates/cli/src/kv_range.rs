//! `coditect kv range`: the raw keys and values of one tenant, for operators debugging it.
//! Keys are shown decoded as tuples (like fdbcli's `getrange`), or with `--hex` as exactly one
//! line per key, `<hex key> <hex value>`, for other tools.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Subcommand;
use coditect_core::{keys, TenantId};
use foundationdb_tuple::Element;
use serde_json::json;

use crate::output::{hex, Output};
use crate::scan::scan;
use crate::store::{self, StoreSpec};
use crate::tenant::{parse_tenant_id, require};

/// `coditect kv ...`
#[derive(Subcommand, Debug)]
pub enum KvCommand {
    /// The keys and values of one tenant, in key order.
    Range {
        /// The tenant's id (a UUID).
        #[arg(long, value_parser = parse_tenant_id)]
        tenant: TenantId,
        /// Only keys of this collection (`task`, `user`, `idx`, `audit`, `meta`, ...).
        #[arg(long)]
        collection: Option<String>,
        /// The most keys to show; 0 shows all.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One line per key: `<hex key> <hex value>` (an empty value leaves nothing after the
        /// space).
        #[arg(long)]
        hex: bool,
    },
}

/// Runs one `kv` subcommand. The one command that prints as it goes instead of building its
/// result first ([`Render`](crate::output::Render)): a range may hold more rows than memory,
/// and text rows stream to a pipe (`| head`) as they are read.
pub async fn run(spec: &StoreSpec, out: &Output, command: KvCommand) -> anyhow::Result<()> {
    let KvCommand::Range {
        tenant,
        collection,
        limit,
        hex: as_hex,
    } = command;
    let db = store::open(spec, store::Missing::Refuse).await?;
    // Suspended tenants are shown too: this is how an operator looks at one.
    require(&*db, tenant).await?;
    let (begin, end) = match &collection {
        Some(collection) => keys::collection_range(tenant, collection)?,
        None => tenant.range(),
    };
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    let mut rows = Vec::new();
    let mut reader_gone = false;
    let scanned = scan(&*db, &begin, &end, limit, |kv| {
        if out.json {
            rows.push(json!({
                "key": hex(&kv.key),
                "tuple": decoded(&kv.key),
                "value": hex(&kv.value),
            }));
            return Ok(());
        }
        let written = if as_hex {
            writeln!(stdout, "{} {}", hex(&kv.key), hex(&kv.value))
        } else {
            writeln!(stdout, "{} is {}", decoded(&kv.key), escaped(&kv.value))
        };
        if let Err(error) = written {
            // `coditect kv range ... | head`: the reader has all it wanted.
            reader_gone = error.kind() == std::io::ErrorKind::BrokenPipe;
            return Err(error.into());
        }
        Ok(())
    })
    .await;
    let count = match scanned {
        Err(_) if reader_gone => return Ok(()),
        result => result?,
    };
    if out.json {
        writeln!(
            stdout,
            "{}",
            json!({"tenant": tenant.uuid(), "count": count, "rows": rows})
        )?;
    } else if !as_hex && count == 0 {
        writeln!(stdout, "no keys")?;
    }
    Ok(())
}

/// `bytes` as fdbcli prints them: printable ASCII as is, anything else as `\xNN`.
fn escaped(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() + 2);
    text.push('`');
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'`' {
            text.push(b as char);
        } else {
            let _ = write!(text, "\\x{b:02x}");
        }
    }
    text.push('\'');
    text
}

/// A key as a tuple, `(uuid, "task", uuid)`, or escaped bytes when it is not one.
fn decoded(key: &[u8]) -> String {
    match keys::decode_key(key) {
        Ok(elements) => {
            let parts: Vec<String> = elements.iter().map(element).collect();
            format!("({})", parts.join(", "))
        }
        Err(_) => escaped(key),
    }
}

fn element(e: &Element<'_>) -> String {
    match e {
        Element::Nil => "nil".into(),
        Element::Bytes(b) => format!("b{}", escaped(b)),
        Element::String(s) => format!("{s:?}"),
        Element::Tuple(t) => format!("({})", t.iter().map(element).collect::<Vec<_>>().join(", ")),
        Element::Int(i) => i.to_string(),
        Element::Bool(b) => b.to_string(),
        Element::Uuid(u) => u.to_string(),
        Element::Versionstamp(v) => format!("versionstamp:{}", hex(v.as_bytes())),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_as_tuples() {
        let t = uuid::Uuid::new_v4();
        let key = foundationdb_tuple::pack(&(t, "task", 7i64));
        assert_eq!(decoded(&key), format!("({t}, \"task\", 7)"));
        assert_eq!(hex(&[0x00, 0xab]), "00ab");
        assert_eq!(escaped(b"a\x00"), "`a\\x00'");
    }
}
