// Package rbac audits herald's generated ClusterRole against a reviewed
// expectation: a change to the permissions must change this file too, in
// the same review.
package rbac

import (
	"os"
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// reviewed lists every permission the manager's code uses, and why.
var reviewed = []rbacv1.PolicyRule{
	// Signing secrets: read only, fetched when an attempt is made; watched by
	// metadata only, so that an endpoint becomes Ready when its Secret appears.
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
	// Events: attempt failed, delivery failed, suspended, resumed.
	{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	// Deliveries and issue reports: read from the cache, deleted after their
	// retention (deliveries) or the window (reports).
	{APIGroups: []string{"webhooks.herald.dev"}, Resources: []string{"webhookdeliveries", "webhookissuereports"},
		Verbs: []string{"delete", "get", "list", "watch"}},
	// Status: one writer per kind, by merge patch.
	{APIGroups: []string{"webhooks.herald.dev"}, Resources: []string{"webhookdeliveries/status", "webhookendpoints/status"},
		Verbs: []string{"patch"}},
	// Endpoints: read only; people and GitOps own their spec.
	{APIGroups: []string{"webhooks.herald.dev"}, Resources: []string{"webhookendpoints"}, Verbs: []string{"get", "list", "watch"}},
}

func TestClusterRoleIsTheReviewedOne(t *testing.T) {
	raw, err := os.ReadFile("../../config/rbac/role.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) != len(reviewed) {
		t.Fatalf("config/rbac/role.yaml has %d rules, the reviewed list %d:\n%+v", len(role.Rules), len(reviewed), role.Rules)
	}
	for i, want := range reviewed {
		got := role.Rules[i]
		if !slices.Equal(got.APIGroups, want.APIGroups) || !slices.Equal(got.Resources, want.Resources) ||
			!slices.Equal(got.Verbs, want.Verbs) || len(got.ResourceNames) != 0 || len(got.NonResourceURLs) != 0 {
			t.Errorf("rule %d is %+v, reviewed %+v", i, got, want)
		}
		for _, v := range got.Verbs {
			if v == "*" || v == "escalate" || v == "bind" || v == "impersonate" {
				t.Errorf("rule %d grants %q", i, v)
			}
		}
	}
}
