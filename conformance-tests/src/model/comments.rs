//! Comments and files: their order, their stored versions, and unique paths.

use super::*;

/// Comments list in the order they were written.
pub async fn comments_are_in_time_order(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "comments.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let t = in_p
        .insert(Task::new(web.id, "T", p.admin_member.id))
        .await
        .expect("task");
    let mut written = Vec::new();
    for i in 0..12 {
        let c = in_p
            .insert(Comment::new(
                t.id,
                p.admin_member.id,
                format!("comment {i}"),
            ))
            .await
            .expect("comment");
        written.push(c.id);
    }
    let mut read = Vec::new();
    let mut request = PageRequest::first(5);
    loop {
        let page = in_tenant!(db, tid(&p), |ttx| {
            comment::by_task(&ttx, Actor::System, t.id, &request).await
        })
        .expect("page");
        read.extend(page.items.iter().map(|c| c.id));
        match page.next {
            Some(next) => request = PageRequest::after(next, 5),
            None => break,
        }
    }
    assert_eq!(read, written);
    let edited = in_tenant!(db, tid(&p), |ttx| {
        comment::edit(&ttx, admin(&p), written[0], "changed").await
    })
    .expect("edit");
    assert!(edited.edited_at_ms.is_some());
}

/// Schema evolution: version-1 comment bytes read as version 2 (through the frozen v1 struct
/// and the upgrade function), and the next write stores version 2.
pub async fn comment_v1_bytes_upgrade_to_v2(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "schema.test", Plan::Professional).await;
    let in_p = at(db.as_ref(), &p);
    let web = project_in(db.as_ref(), &p, "WEB").await;
    let c = in_tenant!(db, tid(&p), |ttx| {
        let t = record::insert(&ttx, admin(&p), Task::new(web.id, "T", p.admin_member.id)).await?;
        record::insert(
            &ttx,
            admin(&p),
            Comment::new(t.id, p.admin_member.id, "hello"),
        )
        .await
    })
    .expect("comment");
    let v1 = CommentV1 {
        id: c.id,
        task: c.task,
        author: c.author,
        body: "written by version 1".into(),
        stamps: c.stamps,
    };
    in_tenant!(db, tid(&p), |ttx| {
        let bytes = v1.to_stored_bytes()?;
        ttx.set(&record::key_of::<Comment>(&ttx, c.id), &bytes)
    })
    .expect("store v1 bytes");
    let (tenant, comment_id) = (tid(&p), c.id);
    let raw = |db: std::sync::Arc<dyn KvBackend>| async move {
        in_tenant!(db, tenant, |ttx| {
            ttx.get(&record::key_of::<Comment>(&ttx, comment_id), false)
                .await
        })
        .expect("raw")
        .expect("stored")
    };
    assert_eq!(raw(db.clone()).await[0], 1);
    let read = in_p.require::<Comment>(c.id).await.expect("read v1");
    assert_eq!(read.body, "written by version 1");
    assert_eq!(read.edited_at_ms, None);
    in_tenant!(db, tid(&p), |ttx| {
        comment::edit(&ttx, admin(&p), c.id, "written by version 2").await
    })
    .expect("write");
    let bytes = raw(db.clone()).await;
    assert_eq!(bytes[0], 2, "the next write stores version 2");
    let read = in_p.require::<Comment>(c.id).await.expect("read v2");
    assert_eq!(read.body, "written by version 2");
    assert!(read.edited_at_ms.is_some());
}

/// Unknown schema versions and corrupt bytes are `Decode` errors, never a panic.
pub async fn unknown_version_and_corrupt_bytes_are_decode_errors(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "decode.test", Plan::Professional).await;
    for bad in [
        vec![99u8, 1, 2, 3],
        vec![1u8, 0xFF, 0xFF, 0xFF],
        vec![],
        vec![1u8],
    ] {
        let error = in_tenant!(db, tid(&p), |ttx| {
            ttx.set(&record::key_of::<Entity>(&ttx, p.root.id), &bad)?;
            record::require::<Entity>(&ttx, Actor::System, p.root.id).await
        })
        .expect_err("bad bytes");
        assert!(
            matches!(error, Error::Decode { what: "entity", .. }),
            "{bad:?}: {error:?}"
        );
    }
}

/// Files: the path is unique within a project (the same path in another project is fine),
/// lookups by path and by project.
pub async fn file_path_unique_within_project(h: &dyn Harness) {
    let (db, p) = tenant_of(h, "files.test", Plan::Professional).await;
    let (one, two) = (
        project_in(db.as_ref(), &p, "ONE").await,
        project_in(db.as_ref(), &p, "TWO").await,
    );
    let f = in_tenant!(db, tid(&p), |ttx| {
        let f = record::insert(
            &ttx,
            admin(&p),
            File::new(one.id, "/docs/a.md", 10, [1; 32], "s3://b/1"),
        )
        .await?;
        record::insert(
            &ttx,
            admin(&p),
            File::new(one.id, "/docs/b.md", 20, [2; 32], "s3://b/2"),
        )
        .await?;
        record::insert(
            &ttx,
            admin(&p),
            File::new(two.id, "/docs/a.md", 30, [3; 32], "s3://b/3"),
        )
        .await?;
        Ok::<_, Error>(f)
    })
    .expect("files");
    let error = at(db.as_ref(), &p)
        .insert(File::new(one.id, "/docs/a.md", 1, [0; 32], "s3://b/4"))
        .await
        .expect_err("duplicate path");
    assert_matches!(
        error,
        Error::AlreadyExists {
            model: "file",
            field: "path"
        }
    );
    for bad in ["docs/a.md", "/docs/../x", "/a//b", "/a/"] {
        let error = at(db.as_ref(), &p)
            .insert(File::new(one.id, bad, 1, [0; 32], "s3://b/5"))
            .await
            .expect_err(bad);
        assert!(
            matches!(error, Error::InvalidInput { field: "path", .. }),
            "{bad}"
        );
    }
    let (found, listed) = in_tenant!(db, tid(&p), |ttx| {
        Ok::<_, Error>((
            file::by_path(&ttx, Actor::System, one.id, "/docs/a.md").await?,
            file::by_project(&ttx, Actor::System, one.id, &page_of(10)).await?,
        ))
    })
    .expect("lookups");
    assert_eq!(found, Some(f));
    let paths: Vec<&str> = listed.items.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["/docs/a.md", "/docs/b.md"]);
}
