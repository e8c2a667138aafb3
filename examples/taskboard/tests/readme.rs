//! The README's quickstart is the program that `cargo test` compiles and runs
//! (examples/quickstart.rs, run as the doc test of `taskboard::quickstart`): this keeps the
//! two from drifting apart.

#[test]
fn the_readme_quickstart_is_the_compiled_example() {
    let readme = include_str!("../../../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let start = readme
        .find("## Quickstart")
        .expect("the README has a Quickstart section");
    let section = &readme[start..];
    let code = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the Quickstart section shows a rust block");
    assert_eq!(
        code, example,
        "README quickstart and examples/quickstart.rs differ"
    );
    let first_screen: usize = readme[..start].lines().count();
    assert!(
        first_screen < 40,
        "the quickstart starts on the first screen (line {first_screen})"
    );
}
