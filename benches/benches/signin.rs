//! What a sign-in costs, and that an unknown login costs what a wrong password does (so the
//! time does not tell them apart); what checking an API token costs per request. On redb, so
//! the store's part (the failure counted durably) is in the figure. The clock moves a day per
//! iteration, so throttling never cuts the work short.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use chrono::Duration;
use criterion::{Criterion, criterion_group, criterion_main};
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Store};
use ticketcore_redb::RedbStore;

fn signin(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> =
        Arc::new(RedbStore::open(dir.path().join("signin.redb")).expect("open"));
    let (desk, clock) = rt.block_on(desk_with(store, fixture_config(), 1));
    let token = rt.block_on(async {
        desk.set_password(
            &Actor::System,
            &Actor::agent("anna"),
            "correct horse battery",
        )
        .await
        .expect("password");
        desk.create_token(&Actor::System, &Actor::agent("anna"), "bench", None)
            .await
            .expect("token")
    });
    let mut group = c.benchmark_group("signin");
    group.sample_size(20);
    let cases = [
        ("right password", "anna", "correct horse battery"),
        ("wrong password", "anna", "wrong horse battery"),
        ("unknown login", "nobody", "correct horse battery"),
    ];
    for (name, login, password) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                clock.advance(Duration::days(1));
                desk.sign_in(login, password)
            })
        });
    }
    group.sample_size(100);
    group.bench_function("api token", |b| {
        b.to_async(&rt)
            .iter(|| async { desk.actor_for_token(&token).await.expect("token works") })
    });
    group.finish();
}

criterion_group!(benches, signin);
criterion_main!(benches);
