//! Member: the one identity that owns, is assigned and acts, human (a user) or AI agent (an
//! agent configuration). Every owner, assignee, reporter and audit actor is a member.
//!
//! Deleting a member is refused with [`Error::StillReferenced`]
//! while anything refers to it: content (projects it owns, tasks it reported or is assigned,
//! comments and messages it wrote, its conversations and personal settings) and its own
//! access too (sessions, API keys, role assignments). Nothing is removed with it: its
//! credentials and grants are deleted first, each an authorized, audited operation of its
//! own, so a delete never grows into an unbounded cascade that could pass the transaction
//! limit part way, and a refused delete changes nothing.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{AgentConfigId, MemberId, UserId};
use crate::keys::KeyPart;
use crate::model::agent_config::AgentConfig;
use crate::model::user::{User, UserRole, UserStatus};
use crate::principal::Principal;
use crate::rbac::ResourceKind;
use crate::record::{
    self, check_len, check_quota, IndexDef, Model, PageRequest, Reference, Timestamps,
};
use crate::tenant_tx::TenantTx;
use crate::value::Versioned;

/// Who a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberKind {
    /// A human: one of the tenant's users (at most one member per user).
    Human(UserId),
    /// An AI agent, by its configuration (which must exist in the tenant); agents count
    /// against the plan's agent quota.
    Agent(AgentConfigId),
}

/// A member of a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// Human or agent.
    pub kind: MemberKind,
    /// Display name, 1 to 200 bytes (UTF-8).
    pub display_name: String,
    /// Creation and update times.
    pub stamps: Timestamps,
}

/// The counter of agent members, which the agent quota reads.
pub const AGENTS: &str = "member_agent";

impl Member {
    /// A new member with a fresh id.
    #[track_caller]
    pub fn new(kind: MemberKind, display_name: impl Into<String>) -> Self {
        Member {
            id: MemberId::generate(),
            kind,
            display_name: display_name.into(),
            stamps: Timestamps::default(),
        }
    }

    /// The member of a user (unique: a user is one member).
    pub const BY_USER: IndexDef<Member> = IndexDef {
        name: "member_by_user",
        field: "user",
        unique: true,
        values: |m| match m.kind {
            MemberKind::Human(user) => Some(vec![KeyPart::Uuid(user.uuid())]),
            MemberKind::Agent(_) => None,
        },
    };
    /// The members running an agent configuration.
    pub const BY_AGENT: IndexDef<Member> = IndexDef {
        name: "member_by_agent",
        field: "agent",
        unique: false,
        values: |m| match m.kind {
            MemberKind::Agent(agent) => Some(vec![KeyPart::Uuid(agent.uuid())]),
            MemberKind::Human(_) => None,
        },
    };
}

impl Versioned for Member {
    const WHAT: &'static str = "member";
    const SCHEMA_VERSION: u8 = 1;
}

#[async_trait]
impl Model for Member {
    const COLLECTION: &'static str = "member";
    const INDEXES: &'static [IndexDef<Self>] = &[Member::BY_USER, Member::BY_AGENT];
    type Id = MemberId;
    const RESOURCE: ResourceKind = ResourceKind::Member;

    crate::record::id_and_stamps!(MemberId);
    fn validate(&self) -> Result<()> {
        check_len(Self::WHAT, "display_name", &self.display_name, 1, 200)
    }
    fn references(&self) -> Vec<Reference> {
        match self.kind {
            MemberKind::Human(user) => vec![Reference::to::<User>("user", user)],
            MemberKind::Agent(config) => vec![Reference::to::<AgentConfig>("agent", config)],
        }
    }
    fn counters(&self) -> Vec<&'static str> {
        match self.kind {
            MemberKind::Human(_) => vec![Self::COLLECTION],
            MemberKind::Agent(_) => vec![Self::COLLECTION, AGENTS],
        }
    }
    async fn before_write(&self, ttx: &TenantTx<'_>, before: Option<&Self>) -> Result<()> {
        let was_agent = matches!(before.map(|b| b.kind), Some(MemberKind::Agent(_)));
        if matches!(self.kind, MemberKind::Agent(_)) && !was_agent {
            check_quota(ttx, "agents", AGENTS, ttx.tenant().quotas.max_agents).await?;
        }
        Ok(())
    }
}

/// The member of `user`, or `None`.
pub async fn by_user(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    user: UserId,
) -> Result<Option<Member>> {
    record::find_unique(ttx, by, &Member::BY_USER, &[user.uuid().into()]).await
}

/// One page of the members running `agent`.
pub async fn by_agent(
    ttx: &TenantTx<'_>,
    by: impl Into<Principal>,
    agent: AgentConfigId,
    request: &PageRequest,
) -> Result<record::Page<Member>> {
    record::list_by(ttx, by, &Member::BY_AGENT, &[agent.uuid().into()], request).await
}

/// Whether `member` may act at all: `None` when it does not exist or is a human whose user
/// is missing or disabled; otherwise its user's role (`Some(None)` for an agent, which has
/// no user). Read in the transaction (not snapshots), for authentication and for the
/// authorization decision.
pub(crate) async fn acting_as(
    ttx: &TenantTx<'_>,
    member: MemberId,
) -> Result<Option<Option<UserRole>>> {
    let Some(record) = record::get_unchecked::<Member>(ttx, member).await? else {
        return Ok(None);
    };
    let MemberKind::Human(user) = record.kind else {
        return Ok(Some(None));
    };
    Ok(record::get_unchecked::<User>(ttx, user)
        .await?
        .filter(|user| user.status != UserStatus::Disabled)
        .map(|user| Some(user.role)))
}

/// [`Error::Unauthenticated`] unless `member` may act (exists and, for a human, its user is not disabled): what a credential of
/// the member needs to authenticate.
pub(crate) async fn check_may_act(ttx: &TenantTx<'_>, member: MemberId) -> Result<()> {
    match acting_as(ttx, member).await? {
        Some(_) => Ok(()),
        None => Err(Error::Unauthenticated {
            reason: "the member cannot act (unknown, or its user is disabled)",
        }),
    }
}
