//! Setting: a named, typed value at a scope (the tenant, an entity or a member), unique per
//! (scope, name) and looked up by them. [`TypedValue`] is also the value of every free-form
//! map of the AI models (agent settings, execution inputs and outputs): postcard is not
//! self-describing, so free-form data is a closed set of types, never `serde_json::Value`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{EntityId, MemberId, SettingId};
use crate::keys::KeyPart;
use crate::model::entity::Entity;
use crate::model::member::Member;
use crate::principal::Principal;
use crate::rbac::{ResourceKind, Scope};
use crate::record::{self, check_len, IndexDef, Model, Page, PageRequest, Reference, Timestamps};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// A value of a setting or of a free-form map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TypedValue {
    /// True or false.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number (finite).
    Float(f64),
    /// Text.
    Text(String),
    /// A list of texts.
    List(Vec<String>),
}

impl TypedValue {
    /// Checks sizes (text up to 10,000 bytes of UTF-8, lists up to 1,000 items) and finiteness.
    pub fn validate(&self, model: &'static str, field: &'static str) -> Result<()> {
        match self {
            TypedValue::Float(f) if !f.is_finite() => Err(Error::InvalidInput {
                field,
                reason: "a float must be finite".into(),
            }),
            TypedValue::Text(t) => check_len(model, field, t, 0, 10_000),
            TypedValue::List(items) => {
                if items.len() > 1_000 {
                    return Err(Error::InvalidInput {
                        field,
                        reason: "more than 1000 items".into(),
                    });
                }
                items
                    .iter()
                    .try_for_each(|t| check_len(model, field, t, 0, 10_000))
            }
            _ => Ok(()),
        }
    }
}

/// A free-form map: names (1 to 128 of `a-z A-Z 0-9 _ - .`) to typed values.
pub type TypedMap = BTreeMap<String, TypedValue>;

/// Checks a free-form map: at most 200 entries, valid names and values.
pub(crate) fn check_map(model: &'static str, field: &'static str, map: &TypedMap) -> Result<()> {
    if map.len() > 200 {
        return Err(Error::InvalidInput {
            field,
            reason: "more than 200 entries".into(),
        });
    }
    for (name, value) in map {
        check_name(model, field, name)?;
        value.validate(model, field)?;
    }
    Ok(())
}

/// Checks a setting or metric name: 1 to 128 of `a-z A-Z 0-9 _ - .`.
pub(crate) fn check_name(model: &'static str, field: &'static str, name: &str) -> Result<()> {
    check_len(model, field, name, 1, 128)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(Error::InvalidInput {
            field,
            reason: "only A-Z, a-z, 0-9, _, - and . are allowed".into(),
        });
    }
    Ok(())
}

/// Where a setting applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SettingScope {
    /// The whole tenant.
    Tenant,
    /// One entity.
    Entity(EntityId),
    /// One member.
    Member(MemberId),
}

impl SettingScope {
    fn key_parts(self) -> [KeyPart; 2] {
        match self {
            SettingScope::Tenant => ["tenant".into(), KeyPart::Null],
            SettingScope::Entity(e) => ["entity".into(), e.uuid().into()],
            SettingScope::Member(m) => ["member".into(), m.uuid().into()],
        }
    }
}

/// A named, typed value at a scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Its id.
    pub id: SettingId,
    /// Where it applies.
    pub scope: SettingScope,
    /// Its name, unique in its scope.
    pub name: String,
    /// Its value.
    pub value: TypedValue,
    /// Creation and update times.
    pub stamps: Timestamps,
}

impl Setting {
    /// A new setting with a fresh id.
    #[track_caller]
    pub fn new(scope: SettingScope, name: impl Into<String>, value: TypedValue) -> Self {
        Setting {
            id: SettingId::generate(),
            scope,
            name: name.into(),
            value,
            stamps: Timestamps::default(),
        }
    }

    /// Settings by scope and name (unique).
    pub const BY_SCOPE_NAME: IndexDef<Setting> = IndexDef {
        name: "setting_by_scope_name",
        field: "name",
        unique: true,
        values: |s| {
            let [kind, id] = s.scope.key_parts();
            Some(vec![kind, id, KeyPart::Str(s.name.clone())])
        },
    };
}

impl Versioned for Setting {
    const WHAT: &'static str = "setting";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Setting {
    const COLLECTION: &'static str = "setting";
    const INDEXES: &'static [IndexDef<Self>] = &[Setting::BY_SCOPE_NAME];
    type Id = SettingId;
    const RESOURCE: ResourceKind = ResourceKind::Setting;

    crate::record::id_and_stamps!(SettingId);
    /// A member's personal settings are theirs to read: others need the right to act for
    /// others (tenant and entity settings have no owner and are read as any record).
    const PRIVATE: bool = true;
    fn owner(&self) -> Option<MemberId> {
        match self.scope {
            SettingScope::Member(member) => Some(member),
            SettingScope::Tenant | SettingScope::Entity(_) => None,
        }
    }
    async fn scope(&self, _ttx: &TenantTx<'_>) -> Result<Scope> {
        Ok(match self.scope {
            SettingScope::Entity(entity) => Scope::Entity(entity),
            SettingScope::Tenant | SettingScope::Member(_) => Scope::Tenant,
        })
    }
    fn validate(&self) -> Result<()> {
        check_name(Self::WHAT, "name", &self.name)?;
        self.value.validate(Self::WHAT, "value")
    }
    fn references(&self) -> Vec<Reference> {
        match self.scope {
            SettingScope::Tenant => Vec::new(),
            SettingScope::Entity(e) => vec![Reference::to::<Entity>("scope", e)],
            SettingScope::Member(m) => vec![Reference::to::<Member>("scope", m)],
        }
    }
}

/// The setting `name` at `scope`, or `None`.
pub async fn get(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    scope: SettingScope,
    name: &str,
) -> Result<Option<Setting>> {
    let [kind, id] = scope.key_parts();
    record::find_unique(ttx, by, &Setting::BY_SCOPE_NAME, &[kind, id, name.into()]).await
}

/// One page of the settings at `scope`, by name.
pub async fn at_scope(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    scope: SettingScope,
    request: &PageRequest,
) -> Result<Page<Setting>> {
    let [kind, id] = scope.key_parts();
    record::list_by(ttx, by, &Setting::BY_SCOPE_NAME, &[kind, id], request).await
}
