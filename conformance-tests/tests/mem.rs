//! The whole conformance suite on the in-memory backend.

coditect_conformance::kv_suite!(coditect_conformance::EngineHarness::new(|options| Ok(
    coditect_mem::new_backend(options)
)));
coditect_conformance::model_suite!(coditect_conformance::EngineHarness::new(|options| Ok(
    coditect_mem::new_backend(options)
)));
coditect_conformance::audit_suite!(coditect_conformance::EngineHarness::new(|options| Ok(
    coditect_mem::new_backend(options)
)));
coditect_conformance::ops_suite!(coditect_conformance::EngineHarness::new(|options| Ok(
    coditect_mem::new_backend(options)
)));
coditect_conformance::security_suite!(coditect_conformance::EngineHarness::new(|options| Ok(
    coditect_mem::new_backend(options)
)));
coditect_conformance::audit_integrity_suite!(coditect_conformance::EngineHarness::new(|options| {
    Ok(coditect_mem::new_backend(options))
}));
