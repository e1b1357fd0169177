//! SelfSubjectAccessReviews and RBAC refusals.

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::core::v1::Pod;
use kle_tests::fake_api::{AccessPolicy, AccessRule, FakeApiServer, FakeContainer, FakePod};
use kube::api::{Api, ListParams, LogParams, PostParams};

use crate::support::{NS, fetch_log, within};

fn can(verb: &str, resource: &str, subresource: Option<&str>, namespace: &str) -> SelfSubjectAccessReview {
    SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                resource: Some(resource.to_owned()),
                subresource: subresource.map(str::to_owned),
                namespace: Some(namespace.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn review(server: &FakeApiServer, question: SelfSubjectAccessReview) -> (bool, Option<String>) {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(server.client());
    let answer = within(reviews.create(&PostParams::default(), &question)).await.unwrap();
    assert_eq!(answer.spec, question.spec, "the spec is echoed");
    let status = answer.status.expect("the review is answered");
    (status.allowed, status.reason)
}

#[tokio::test]
async fn reviews_follow_the_policy() {
    let server = FakeApiServer::start().await;
    assert_eq!(review(&server, can("get", "pods", Some("log"), NS)).await, (true, None));

    server.set_access_policy(
        AccessPolicy::allow_all().rule(
            AccessRule::deny()
                .verb("get")
                .resource("pods/log")
                .reason("no logs here"),
        ),
    );
    let denied = review(&server, can("get", "pods", Some("log"), NS)).await;
    assert_eq!(denied, (false, Some("no logs here".to_owned())));
    assert_eq!(review(&server, can("list", "pods", None, NS)).await, (true, None));
}

#[tokio::test]
async fn enforced_policy_refuses_requests_with_the_api_servers_message() {
    let server = FakeApiServer::start().await;
    server.add_pod(FakePod::new(NS, "web-0").container(FakeContainer::new("app")));
    server.set_user("alice");
    server.set_access_policy(AccessPolicy::deny_all().rule(AccessRule::allow().verb("list").namespace(NS)));

    let namespaced: Api<Pod> = Api::namespaced(server.client(), NS);
    assert_eq!(
        within(namespaced.list(&ListParams::default()))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let all: Api<Pod> = Api::all(server.client());
    let error = within(all.list(&ListParams::default())).await.unwrap_err();
    let kube::Error::Api(status) = error else {
        panic!("expected an API error, got {error}")
    };
    let message =
        "pods is forbidden: User \"alice\" cannot list resource \"pods\" in API group \"\" at the cluster scope";
    assert_eq!((status.code, status.message.as_str()), (403, message));

    let status = fetch_log(&server.client(), "web-0", &LogParams::default())
        .await
        .unwrap_err();
    assert_eq!(status.code, 403);

    // Advisory: reviews say no, requests still pass.
    server.set_access_policy(AccessPolicy::deny_all().advisory_only());
    assert!(
        fetch_log(&server.client(), "web-0", &LogParams::default())
            .await
            .is_ok()
    );
    assert!(!review(&server, can("get", "pods", Some("log"), NS)).await.0);
}
