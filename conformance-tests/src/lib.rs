//! # coditect-conformance
//!
//! One suite, every backend. The cases are plain `async fn(&dyn Harness)` functions in
//! [`kv`]; a backend runs all of them with one line, [`kv_suite!`], in its own test target:
//!
//! ```text
//! // conformance-tests/tests/mem.rs
//! coditect_conformance::kv_suite!(coditect_conformance::EngineHarness::new(|options| {
//!     Ok(coditect_mem::new_backend(options))
//! }));
//! ```
//!
//! The list in [`kv_suite!`] is the record of what every backend supports: a case that a
//! backend cannot pass is a bug in that backend, not a case to leave out.
//!
//! The record layer (tenants, models, indexes, audit, isolation) has its own cases in
//! [`model`], run the same way with one more line, [`model_suite!`], taking the same harness;
//! tenant operations (backup, restore, migration, erase, analytics) likewise in [`ops`], with
//! [`ops_suite!`].

#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coditect_core::KvBackend;
use coditect_engine::{BaseStore, Engine, EngineOptions, ManualClock};

pub mod audit;
pub mod audit_integrity;
pub mod decoders;
pub mod differential;
/// The fault-injecting backend wrapper, from the testing kit.
pub use coditect_testing::faults;
pub mod kv;
pub mod kv_limits;
pub mod model;
pub mod ops;
pub mod recording;
pub mod security;
mod support;
pub use support::scan;

/// What a case needs from a backend.
#[async_trait]
pub trait Harness: Send + Sync {
    /// The backend under test: empty when the case starts.
    fn backend(&self) -> Arc<dyn KvBackend>;

    /// Makes every transaction begun so far older than the read-version limit (5 s). Engine
    /// backends move a manual clock; FoundationDB waits for real.
    async fn age_past_read_version_limit(&self);

    /// Bytes this harness puts in front of every key before the store sees it (0 unless it
    /// confines each case to a subspace). The limit cases shorten their keys by this much, so
    /// the store sees exactly the boundary they state.
    fn key_prefix_len(&self) -> usize {
        0
    }
}

/// A [`Harness`] for any engine backend, on a manual clock.
pub struct EngineHarness<S: BaseStore> {
    backend: Arc<Engine<S>>,
    clock: Arc<ManualClock>,
}

impl<S: BaseStore> EngineHarness<S> {
    /// Builds the backend with `open`, handing it engine options on a manual clock. Panics
    /// when the backend cannot be opened: this is test set-up.
    pub fn new(open: impl FnOnce(EngineOptions) -> coditect_core::kv::Result<Engine<S>>) -> Self {
        let clock = Arc::new(ManualClock::default());
        let options = EngineOptions {
            clock: clock.clone(),
        };
        let backend = match open(options) {
            Ok(backend) => Arc::new(backend),
            Err(error) => panic!("the backend under test failed to open: {error}"),
        };
        EngineHarness { backend, clock }
    }

    /// The engine itself, for checks of its internals.
    pub fn engine(&self) -> &Engine<S> {
        &self.backend
    }
}

#[async_trait]
impl<S: BaseStore> Harness for EngineHarness<S> {
    fn backend(&self) -> Arc<dyn KvBackend> {
        self.backend.clone()
    }

    async fn age_past_read_version_limit(&self) {
        self.clock
            .advance(coditect_core::limits::MAX_READ_VERSION_AGE + Duration::from_secs(1));
    }
}

/// Instantiates every case of [`kv`] as a `#[tokio::test]` on a multi-threaded runtime.
/// `$harness` is an expression evaluated afresh for each case.
#[macro_export]
macro_rules! kv_suite {
    ($harness:expr) => {
        $crate::suite_cases!(kv_cases = kv, 4, $harness;
            set_then_get, get_missing_is_none, overwrite_replaces, clear_removes_a_key,
            empty_value_is_stored, empty_key_is_a_key, binary_keys_with_0x00_and_0xff,
            committed_writes_are_visible_to_later_transactions,
            range_returns_rows_in_key_order, range_begin_inclusive_end_exclusive,
            range_with_limit, range_reverse, range_reverse_with_limit,
            range_paging_across_a_boundary, range_empty_when_nothing_inside,
            range_begin_at_or_after_end_is_empty, range_pages_are_bounded,
            range_walk_pages_budgets_and_resumes,
            clear_range_removes_only_the_range, clear_range_inverted_is_a_no_op,
            ryw_get_sees_own_set_and_clear, ryw_range_mixes_buffered_and_stored_keys,
            ryw_range_after_clear_range_and_set, ryw_atomic_add_over_stored_value,
            ryw_reverse_limited_range_with_buffered_keys,
            snapshot_isolation_reader_does_not_see_later_commit,
            snapshot_isolation_range_does_not_see_later_inserts_or_deletes,
            read_version_is_stable_within_a_transaction,
            dirty_read_prevented, conflict_on_a_key, conflict_on_a_range,
            conflict_on_a_phantom_insert, limited_range_conflicts_only_on_what_it_read,
            lost_update_prevented, write_skew_rejected, snapshot_reads_do_not_conflict,
            explicit_read_conflict_range, explicit_write_conflict_range,
            blind_writes_never_conflict, atomic_add_sums_little_endian,
            atomic_add_width_rules, concurrent_atomic_adds_sum_exactly_without_conflicts,
            versionstamped_key_gets_the_commit_stamp, versionstamps_increase_across_commits,
            versionstamp_is_shared_within_a_commit, versionstamp_offset_must_fit,
            versionstamped_key_then_clear_range_applies_in_order,
            commit_versions_increase, read_only_commit_succeeds,
            value_size_limit_at_and_past_the_boundary,
            too_old_transaction_cannot_read, too_old_transaction_cannot_commit,
            retry_loop_retries_a_conflict, retry_loop_does_not_retry_a_non_retryable_error,
            retry_loop_honours_its_attempt_limit, dropped_transaction_writes_nothing,
            failed_commit_writes_nothing, bank_transfers_keep_the_total,
        );
        $crate::suite_cases!(kv_limit_cases = kv_limits, 4, $harness;
            key_size_limit_at_and_past_the_boundary,
            ten_megabytes_of_keys_and_values_do_not_commit,
            counted_size_just_under_the_limit_commits_and_one_byte_more_does_not,
            sets_inside_a_cleared_range_count_the_split_clear,
            a_stamped_key_inside_a_cleared_range_counts_the_split_clear,
            versionstamped_key_of_9996_bytes_is_accepted_and_9997_refused,
            reading_where_a_stamped_key_may_land_is_accessed_unreadable,
            only_a_commit_with_read_conflicts_is_too_old,
        );
    };
}

/// Runs the security cases ([`security`]) on a backend: the authorization matrix, one case
/// per finding of the outside review, and the policy against its reference model.
#[macro_export]
macro_rules! security_suite {
    ($harness:expr) => {
        $crate::suite_cases!(mod security, 2, $harness, security;
            authorization_matrix_of_the_models, authorization_matrix_of_the_special_operations,
            authorization_matrix_of_the_user_roles,
            a_viewer_cannot_take_over_the_admin_password,
            members_cannot_change_the_plan_or_suspend_the_tenant,
            session_ids_are_not_bearer_tokens, a_disabled_user_does_nothing,
            api_key_scopes_bound_what_the_key_does, members_author_only_as_themselves,
            lists_hold_only_what_the_reader_may_read,
            a_task_reporter_cannot_be_deleted, aggregate_reads_need_a_tenant_wide_grant,
            many_assignments_give_the_same_answers_as_few,
            a_division_admin_cannot_make_a_team_a_root,
            personal_settings_are_private_to_their_member,
            a_contributor_cannot_file_a_task_as_another_member,
            authorization_agrees_with_a_reference_model,
            naive_retry_bodies_write_each_record_once, a_retried_password_change_is_one_change,
            the_record_layer_example_makes_one_task_under_unknown_commits,
        );
    };
}

/// Instantiates every case of [`model`] (the record layer over the backend) as a
/// `#[tokio::test]`. `$harness` is an expression evaluated afresh for each case.
#[macro_export]
macro_rules! model_suite {
    ($harness:expr) => {
        $crate::suite_cases!(mod model, 2, $harness, model;
            provisioning_makes_a_whole_tenant, provisioning_a_taken_domain_fails,
            a_status_change_reads_the_registry_entry_once,
            nil_unknown_and_suspended_tenants_are_refused, user_crud_and_email_lookup,
            duplicate_email_fails, password_is_hashed_apart_and_verified, quotas_are_enforced,
            entity_hierarchy_rules_and_lookups, entity_cycle_is_refused,
            member_lookups_and_rules, project_crud_lookups_and_references,
            task_crud_and_lookups, task_parent_rules, cross_tenant_assignee_fails,
            comments_are_in_time_order, comment_v1_bytes_upgrade_to_v2,
            unknown_version_and_corrupt_bytes_are_decode_errors,
            file_path_unique_within_project, pagination_over_several_pages,
            tenants_with_the_same_names_are_isolated,
            tenant_tx_refuses_keys_outside_its_tenant,
            stored_keys_decode_with_the_tenant_uuid_first,
            every_mutation_writes_one_audit_event,
            concurrent_writers_in_one_tenant_do_not_conflict_on_audit,
            random_operations_touch_only_the_acting_tenant,
            run_in_tenant_retries_a_conflict, maybe_committed_retries_do_not_apply_twice,
            agent_config_crud_lookup_and_rules, agent_instances_and_executions,
            workflow_versions_stay_readable, conversation_messages_in_order_and_counted_exactly,
            a_deleted_record_leaves_no_zero_counter,
            roles_and_assignments, sessions_expire_and_are_revoked,
            api_keys_are_found_by_hash_only, audit_events_by_actor_and_target,
            usage_counters_are_exact_under_concurrent_recorders, settings_by_scope_and_name,
            rbac_matrix_role_level_action, grant_inherits_down_the_tree_and_follows_moves,
            denied_action_changes_nothing_and_is_audited, agents_do_everything_humans_do,
            tenant_admins_hold_all_and_members_without_roles_nothing,
            every_reference_refuses_the_delete_of_its_target,
            still_referenced_names_the_first_few,
            oversize_fields_are_refused_naming_model_and_field,
            a_refused_insert_leaves_no_index_entries,
            a_refused_email_change_keeps_the_email_index,
            random_operations_with_ignored_failures_leave_a_clean_tenant,
            run_in_tenant_refuses_a_transaction_an_operation_poisoned,
            an_index_value_too_large_for_a_key_is_refused_naming_its_field,
            meters_count_exactly_what_a_transaction_did,
            a_tenant_over_budget_is_throttled_and_admitted_after_retry_after,
        );
    };
}

/// Instantiates every case of [`audit`](crate::audit) (coverage, queries, seal, verify,
/// tampering) as a `#[tokio::test]`. `$harness` is an expression evaluated afresh for each
/// case.
#[macro_export]
macro_rules! audit_suite {
    ($harness:expr) => {
        $crate::suite_cases!(mod audit, 2, $harness, audit;
            every_mutating_operation_leaves_exactly_its_events,
            concurrent_creators_never_conflict_on_the_trail,
            queries_by_time_actor_and_target,
            seal_is_chunked_idempotent_and_verifies,
            sealing_alongside_writers_costs_them_nothing,
            tamper_modified_event_is_named, tamper_removed_event_is_named,
            tamper_inserted_event_is_named, tamper_swapped_events_are_named,
            tamper_with_the_seal_state_is_caught, rewritten_chain_is_caught_by_the_receipt,
            sealing_is_exactly_once_after_unknown_commit_results,
        );
    };
}

/// Instantiates every case of [`audit_integrity`](crate::audit_integrity) as a
/// `#[tokio::test]`. `$harness` is an expression evaluated afresh for each case.
#[macro_export]
macro_rules! audit_integrity_suite {
    ($harness:expr) => {
        $crate::suite_cases!(mod audit_integrity, 2, $harness, audit_integrity;
            clearing_the_by_actor_index_is_refused, clearing_the_seal_state_is_refused,
            clearing_the_reverse_references_is_refused,
            a_cleared_index_is_reported_by_verify, a_cleared_seal_head_is_reported_by_verify,
            an_edited_backup_is_refused_on_import,
            an_old_receipt_verifies_after_a_restore_and_reports_it,
            a_rewrite_of_restored_history_is_caught_by_the_old_receipt,
        );
    };
}

/// Instantiates every case of [`ops`](crate::ops) and [`ops::ownership`](crate::ops::ownership)
/// as a `#[tokio::test]`. `$harness` is an expression evaluated afresh for each case (twice
/// for the copy between two stores).
#[macro_export]
macro_rules! ops_suite {
    ($harness:expr) => {
        $crate::ops_suite!(@cases $harness;
            round_trip_of_every_model_under_a_new_id,
            damaged_backups_are_refused_and_change_nothing,
            large_tenant_export_import_erase_under_the_limits,
            interrupted_erase_resumes_to_completion,
            interrupted_import_resumes_or_is_dropped,
            export_quiesces_writers,
            migrate_rekeys_a_tenant_audited_on_both_sides,
            analytics_never_single_out_a_tenant,
            analytics_and_export_read_many_counters_in_bounded_chunks,
            check_reports_each_violation_with_its_key,
            quotas_hold_when_lowered_and_on_import,
            an_import_writes_the_reverse_references_an_old_store_lacks,
            meter_counters_travel_with_export_and_go_with_erase,
        );
    };
    (@cases $harness:expr; $($case:ident),+ $(,)?) => {
        mod ops {
            // The harness expression may name items of the including test file.
            #[allow(unused_imports)]
            use super::*;
            $crate::suite_cases!(cases = ops, 2, $harness; $($case),+);
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn copy_between_stores() {
                let (a, b) = ($harness, $harness);
                $crate::ops::copy_between_stores(&a, &b).await;
            }
        }
        $crate::suite_cases!(mod ops_ownership, 2, $harness, ops::ownership;
            an_interrupted_export_holds_the_tenant_until_run_again,
            a_resumed_export_restores_exactly_the_status_before_it,
            activate_during_an_export_is_refused_and_the_backup_is_one_cut,
            an_interrupted_import_holds_the_tenant_until_run_again,
            an_interrupted_erase_holds_the_tenant_until_run_again,
            refused_migrations_and_imports_change_nothing,
            an_interrupted_migration_holds_the_source_until_run_again,
            the_index_walk_finds_dangling_and_missing_entries,
            abort_drops_an_export_an_import_and_a_migration,
        );
    };
}
