package v1alpha1_test

// These tests install the generated CRDs into a real kube-apiserver (envtest)
// and check that the API server itself enforces the validation, defaulting
// and immutability that the markers in *_types.go declare.

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/testenv"
)

// One kube-apiserver and etcd for the package; a namespace per test.
var k8sClient client.Client

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, func(env *testenv.Env) (err error) {
		k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
		return err
	}))
}

// newNamespace creates a fresh namespace for one test. envtest runs no
// namespace controller, so deleting it only marks it Terminating; the names
// never collide thanks to GenerateName.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "herald-validation-"}}
	NewWithT(t).Expect(k8sClient.Create(t.Context(), ns)).To(Succeed())
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

// expectInvalid asserts that err is a 422 Invalid whose message names field
// and carries message, and that one of the status causes pairs the two.
func expectInvalid(g Gomega, err error, field, message string) {
	g.Expect(err).To(HaveOccurred(), "the API server accepted the object")
	g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	g.Expect(err.Error()).To(ContainSubstring(field))
	g.Expect(err.Error()).To(ContainSubstring(message))

	var status apierrors.APIStatus
	g.Expect(errors.As(err, &status)).To(BeTrue(), "not an API status error: %v", err)
	details := status.Status().Details
	g.Expect(details).NotTo(BeNil())
	g.Expect(details.Causes).To(ContainElement(And(
		HaveField("Field", field),
		HaveField("Message", ContainSubstring(message)),
	)), "no cause for field %q with message %q in: %v", field, message, err)
}

func durations(ds ...time.Duration) []metav1.Duration {
	out := make([]metav1.Duration, len(ds))
	for i, d := range ds {
		out[i] = metav1.Duration{Duration: d}
	}
	return out
}

func validEndpoint(ns string) *heraldv1.WebhookEndpoint {
	return &heraldv1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "endpoint-"},
		Spec:       heraldv1.WebhookEndpointSpec{URL: "https://example.com/hook"},
	}
}

const (
	urlMessage      = "url must be an absolute http:// or https:// URL with a host"
	backoffMessage  = "retry.backoff entries must be positive durations"
	timeoutMessage  = "timeout must be a positive duration of at most 60s"
	reservedMessage = "this header is set by herald and cannot be overridden"
	webhookMessage  = "header names starting with webhook- are reserved for Standard Webhooks"
	valueMessage    = "header values must not contain CR, LF or NUL"
)

func TestWebhookEndpointValidationRefuses(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*heraldv1.WebhookEndpoint)
		field   string
		message string
	}{
		{
			name:   "ftp url",
			mutate: func(e *heraldv1.WebhookEndpoint) { e.Spec.URL = "ftp://example.com/hook" },
			field:  "spec.url", message: urlMessage,
		},
		{
			name:   "not a url",
			mutate: func(e *heraldv1.WebhookEndpoint) { e.Spec.URL = "not a url" },
			field:  "spec.url", message: urlMessage,
		},
		{
			name:   "url without host",
			mutate: func(e *heraldv1.WebhookEndpoint) { e.Spec.URL = "http:///nohost" },
			field:  "spec.url", message: urlMessage,
		},
		{
			name: "zero backoff entry",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Retry = &heraldv1.RetryPolicy{Backoff: durations(time.Minute, 0)}
			},
			field: "spec.retry.backoff", message: backoffMessage,
		},
		{
			name: "negative backoff entry",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Retry = &heraldv1.RetryPolicy{Backoff: durations(-5 * time.Second)}
			},
			field: "spec.retry.backoff", message: backoffMessage,
		},
		{
			name: "backoff entry over 168h",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Retry = &heraldv1.RetryPolicy{Backoff: durations(169 * time.Hour)}
			},
			field: "spec.retry.backoff", message: "retry.backoff entries must not exceed 168h",
		},
		{
			name:   "zero timeout",
			mutate: func(e *heraldv1.WebhookEndpoint) { e.Spec.Timeout = &metav1.Duration{} },
			field:  "spec.timeout", message: timeoutMessage,
		},
		{
			name:   "timeout over 60s",
			mutate: func(e *heraldv1.WebhookEndpoint) { e.Spec.Timeout = &metav1.Duration{Duration: 2 * time.Minute} },
			field:  "spec.timeout", message: timeoutMessage,
		},
		{
			name: "Content-Type header",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Headers = []heraldv1.HTTPHeader{{Name: "Content-Type", Value: "text/plain"}}
			},
			field: "spec.headers[0].name", message: reservedMessage,
		},
		{
			name: "webhook-id header",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Headers = []heraldv1.HTTPHeader{
					{Name: "Authorization", Value: "Bearer x"},
					{Name: "Webhook-Id", Value: "msg_1"},
				}
			},
			field: "spec.headers[1].name", message: webhookMessage,
		},
		{
			name: "header name with a space",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Headers = []heraldv1.HTTPHeader{{Name: "X Tenant", Value: "a"}}
			},
			field: "spec.headers[0].name", message: "should match",
		},
		{
			name: "header value with CRLF",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.Headers = []heraldv1.HTTPHeader{{Name: "X-Tenant", Value: "a\r\nX-Injected: b"}}
			},
			field: "spec.headers[0].value", message: valueMessage,
		},
		{
			name: "signingSecretRef with empty name",
			mutate: func(e *heraldv1.WebhookEndpoint) {
				e.Spec.SigningSecretRef = &heraldv1.SecretKeyRef{Name: ""}
			},
			field: "spec.signingSecretRef.name", message: "should be at least 1 chars long",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/create", func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t)
			endpoint := validEndpoint(ns)
			tc.mutate(endpoint)
			expectInvalid(g, k8sClient.Create(t.Context(), endpoint), tc.field, tc.message)
		})
		t.Run(tc.name+"/update", func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(t)
			endpoint := validEndpoint(ns)
			g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())
			tc.mutate(endpoint)
			expectInvalid(g, k8sClient.Update(t.Context(), endpoint), tc.field, tc.message)
		})
	}
}

func TestWebhookEndpointDefaults(t *testing.T) {
	t.Run("minimal endpoint gets timeout and backoff defaults", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t)
		endpoint := validEndpoint(ns)
		g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())

		// The stored object, as written by the API server.
		raw := &unstructured.Unstructured{}
		raw.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookEndpoint"))
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), raw)).To(Succeed())
		timeout, _, err := unstructured.NestedString(raw.Object, "spec", "timeout")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(timeout).To(Equal("10s"))
		backoff, _, err := unstructured.NestedStringSlice(raw.Object, "spec", "retry", "backoff")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(backoff).To(Equal([]string{"60s", "600s"}))
		_, found, _ := unstructured.NestedFieldNoCopy(raw.Object, "spec", "signingSecretRef")
		g.Expect(found).To(BeFalse())

		// The same through the Go types, matching the Go defaults.
		got := &heraldv1.WebhookEndpoint{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
		g.Expect(got.Spec.Timeout).To(Equal(&metav1.Duration{Duration: heraldv1.DefaultTimeout}))
		g.Expect(got.Spec.Retry).NotTo(BeNil())
		g.Expect(got.Spec.Retry.Backoff).To(Equal(durations(heraldv1.DefaultBackoff...)))
		g.Expect(got.GetBackoff()).To(Equal(heraldv1.DefaultBackoff))
		g.Expect(got.GetTimeout()).To(Equal(heraldv1.DefaultTimeout))
	})

	t.Run("explicitly empty backoff is kept: a single attempt", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t)
		endpoint := validEndpoint(ns)
		endpoint.Spec.Retry = &heraldv1.RetryPolicy{Backoff: []metav1.Duration{}}
		g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())

		raw := &unstructured.Unstructured{}
		raw.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookEndpoint"))
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), raw)).To(Succeed())
		backoff, found, err := unstructured.NestedSlice(raw.Object, "spec", "retry", "backoff")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue(), "spec.retry.backoff was dropped: %v", raw.Object["spec"])
		g.Expect(backoff).To(BeEmpty())

		got := &heraldv1.WebhookEndpoint{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
		g.Expect(got.GetBackoff()).To(BeEmpty())

		// A read-modify-write by a Go client must not bring the default back.
		got.Labels = map[string]string{"touched": "yes"}
		g.Expect(k8sClient.Update(t.Context(), got)).To(Succeed())
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
		g.Expect(got.GetBackoff()).To(BeEmpty())
	})

	t.Run("explicitly empty backoff written as YAML is kept", func(t *testing.T) {
		g := NewWithT(t)
		endpoint := &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{
				"url":   "https://example.com/hook",
				"retry": map[string]any{"backoff": []any{}},
			},
		}}
		endpoint.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookEndpoint"))
		endpoint.SetNamespace(newNamespace(t))
		endpoint.SetGenerateName("endpoint-")
		g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())

		got := &heraldv1.WebhookEndpoint{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
		g.Expect(got.Spec.Retry.Backoff).NotTo(BeNil())
		g.Expect(got.GetBackoff()).To(BeEmpty())
	})

	t.Run("signingSecretRef key defaults to secret", func(t *testing.T) {
		g := NewWithT(t)
		ns := newNamespace(t)
		endpoint := validEndpoint(ns)
		endpoint.Spec.SigningSecretRef = &heraldv1.SecretKeyRef{Name: "signing"}
		g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())

		got := &heraldv1.WebhookEndpoint{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
		g.Expect(got.Spec.SigningSecretRef).To(Equal(&heraldv1.SecretKeyRef{Name: "signing", Key: heraldv1.DefaultSigningSecretKey}))
	})
}

func TestWebhookEndpointValidationAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*heraldv1.WebhookEndpoint)
	}{
		{name: "http url with port and query", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.URL = "http://receiver.apps.svc:8080/hooks?tenant=a"
		}},
		{name: "timeout of exactly 60s", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.Timeout = &metav1.Duration{Duration: 60 * time.Second}
		}},
		{name: "timeout of 1ms", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.Timeout = &metav1.Duration{Duration: time.Millisecond}
		}},
		{name: "backoff up to 168h", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.Retry = &heraldv1.RetryPolicy{Backoff: durations(time.Second, 90*time.Minute, 168*time.Hour)}
		}},
		{name: "custom headers", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.Headers = []heraldv1.HTTPHeader{
				{Name: "Authorization", Value: "Bearer abc.def"},
				{Name: "X-Tenant", Value: "tenant a; region=eu"},
				{Name: "X-Webhook-Source", Value: ""},
			}
		}},
		{name: "signingSecretRef with key", mutate: func(e *heraldv1.WebhookEndpoint) {
			e.Spec.SigningSecretRef = &heraldv1.SecretKeyRef{Name: "signing", Key: "whsec.v2"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			endpoint := validEndpoint(newNamespace(t))
			tc.mutate(endpoint)
			want := endpoint.Spec.DeepCopy()
			g.Expect(k8sClient.Create(t.Context(), endpoint)).To(Succeed())

			got := &heraldv1.WebhookEndpoint{}
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(endpoint), got)).To(Succeed())
			g.Expect(got.Spec.URL).To(Equal(want.URL))
			g.Expect(got.Spec.Headers).To(Equal(want.Headers))
			if want.Timeout != nil {
				g.Expect(got.Spec.Timeout).To(Equal(want.Timeout))
			}
			if want.Retry != nil {
				g.Expect(got.Spec.Retry).To(Equal(want.Retry))
			}
			if want.SigningSecretRef != nil {
				g.Expect(got.Spec.SigningSecretRef).To(Equal(want.SigningSecretRef))
			}
		})
	}
}

const nestedPayload = `{
  "type": "user.logout",
  "timestamp": "2026-01-02T03:04:05Z",
  "data": {
    "user": {"id": 42, "name": "Zoë", "roles": ["admin", "ops"]},
    "sessions": [
      {"id": "s1", "ttl": 3600, "score": 0.75, "tags": []},
      {"id": "s2", "ttl": -1, "nested": [[1, 2], [3, [4, {"deep": true}]]], "note": null}
    ],
    "big": 9007199254740993,
    "empty": {}
  }
}`

func validDelivery(ns string) *heraldv1.WebhookDelivery {
	return &heraldv1.WebhookDelivery{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "delivery-"},
		Spec: heraldv1.WebhookDeliverySpec{
			EndpointRef: heraldv1.EndpointReference{Name: "receiver"},
			Event:       "user.logout",
			Payload:     apiextensionsv1.JSON{Raw: []byte(nestedPayload)},
		},
	}
}

func TestWebhookDeliveryValidationRefusesMissingFields(t *testing.T) {
	// Unstructured, so that a field can really be absent (the Go type always
	// serializes endpointRef and event).
	tests := []struct {
		name    string
		drop    string
		field   string
		message string
	}{
		{name: "missing endpointRef", drop: "endpointRef", field: "spec.endpointRef", message: "Required value"},
		{name: "missing event", drop: "event", field: "spec.event", message: "Required value"},
		{name: "missing payload", drop: "payload", field: "spec.payload", message: "Required value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			spec := map[string]any{
				"endpointRef": map[string]any{"name": "receiver"},
				"event":       "user.logout",
				"payload":     map[string]any{"a": int64(1)},
			}
			delete(spec, tc.drop)
			delivery := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
			delivery.SetGroupVersionKind(heraldv1.GroupVersion.WithKind("WebhookDelivery"))
			delivery.SetNamespace(newNamespace(t))
			delivery.SetGenerateName("delivery-")
			expectInvalid(g, k8sClient.Create(t.Context(), delivery), tc.field, tc.message)
		})
	}

	t.Run("empty endpointRef name", func(t *testing.T) {
		g := NewWithT(t)
		delivery := validDelivery(newNamespace(t))
		delivery.Spec.EndpointRef.Name = ""
		expectInvalid(g, k8sClient.Create(t.Context(), delivery), "spec.endpointRef.name", "should be at least 1 chars long")
	})
	t.Run("empty event", func(t *testing.T) {
		g := NewWithT(t)
		delivery := validDelivery(newNamespace(t))
		delivery.Spec.Event = ""
		expectInvalid(g, k8sClient.Create(t.Context(), delivery), "spec.event", "should be at least 1 chars long")
	})
}

func TestWebhookDeliveryPayloadRoundTrips(t *testing.T) {
	payloads := []struct {
		name string
		json string
	}{
		{name: "nested object", json: nestedPayload},
		{name: "top-level array", json: `[1, "two", {"three": [3.5]}]`},
		{name: "string", json: `"just a string"`},
	}
	for _, tc := range payloads {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			delivery := validDelivery(newNamespace(t))
			delivery.Spec.Payload = apiextensionsv1.JSON{Raw: []byte(tc.json)}
			g.Expect(k8sClient.Create(t.Context(), delivery)).To(Succeed())

			got := &heraldv1.WebhookDelivery{}
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(delivery), got)).To(Succeed())
			g.Expect(string(got.Spec.Payload.Raw)).To(MatchJSON(tc.json))
		})
	}
}

func TestWebhookDeliverySpecIsImmutable(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*heraldv1.WebhookDelivery)
	}{
		{name: "event", mutate: func(d *heraldv1.WebhookDelivery) { d.Spec.Event = "user.login" }},
		{name: "endpointRef", mutate: func(d *heraldv1.WebhookDelivery) { d.Spec.EndpointRef.Name = "other" }},
		{name: "payload value deep inside", mutate: func(d *heraldv1.WebhookDelivery) {
			d.Spec.Payload.Raw = []byte(strings.Replace(nestedPayload, `"deep": true`, `"deep": false`, 1))
		}},
		{name: "payload replaced", mutate: func(d *heraldv1.WebhookDelivery) {
			d.Spec.Payload.Raw = []byte(`{"type":"user.logout"}`)
		}},
		{name: "payload type changed", mutate: func(d *heraldv1.WebhookDelivery) {
			d.Spec.Payload.Raw = []byte(`["not", "an", "object"]`)
		}},
		{name: "id set", mutate: func(d *heraldv1.WebhookDelivery) { d.Spec.ID = "evt_1" }},
		{name: "user set", mutate: func(d *heraldv1.WebhookDelivery) { d.Spec.User = "alice" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			delivery := validDelivery(newNamespace(t))
			g.Expect(k8sClient.Create(t.Context(), delivery)).To(Succeed())

			tc.mutate(delivery)
			expectInvalid(g, k8sClient.Update(t.Context(), delivery), "spec", "immutable")
		})
	}
}

func TestWebhookDeliveryAcceptsMetadataAndStatusUpdates(t *testing.T) {
	t.Run("labels", func(t *testing.T) {
		g := NewWithT(t)
		delivery := validDelivery(newNamespace(t))
		g.Expect(k8sClient.Create(t.Context(), delivery)).To(Succeed())

		delivery.Labels = map[string]string{"team": "billing"}
		g.Expect(k8sClient.Update(t.Context(), delivery)).To(Succeed())

		got := &heraldv1.WebhookDelivery{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(delivery), got)).To(Succeed())
		g.Expect(got.Labels).To(HaveKeyWithValue("team", "billing"))
		g.Expect(string(got.Spec.Payload.Raw)).To(MatchJSON(nestedPayload))
	})

	t.Run("status subresource", func(t *testing.T) {
		g := NewWithT(t)
		delivery := validDelivery(newNamespace(t))
		g.Expect(k8sClient.Create(t.Context(), delivery)).To(Succeed())

		start := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC))
		next := metav1.NewMicroTime(start.Add(time.Minute))
		delivery.Status = heraldv1.WebhookDeliveryStatus{
			ObservedGeneration: delivery.Generation,
			Phase:              heraldv1.DeliveryRetrying,
			Attempts: []heraldv1.DeliveryAttempt{{
				Number:     1,
				StartTime:  start,
				Duration:   metav1.Duration{Duration: 250 * time.Millisecond},
				StatusCode: 503,
				Error:      "HTTP 503: try later",
			}},
			NextAttemptTime: &next,
			Conditions: []metav1.Condition{{
				Type:               "Delivered",
				Status:             metav1.ConditionFalse,
				Reason:             "AttemptFailed",
				Message:            "HTTP 503",
				LastTransitionTime: metav1.NewTime(start.Time),
			}},
		}
		g.Expect(k8sClient.Status().Update(t.Context(), delivery)).To(Succeed())

		got := &heraldv1.WebhookDelivery{}
		g.Expect(k8sClient.Get(t.Context(), client.ObjectKeyFromObject(delivery), got)).To(Succeed())
		g.Expect(got.Status.Phase).To(Equal(heraldv1.DeliveryRetrying))
		g.Expect(got.Status.Attempts).To(HaveLen(1))
		g.Expect(got.Status.Attempts[0].StartTime.Equal(&start)).To(BeTrue())
		g.Expect(got.Status.Attempts[0].StatusCode).To(Equal(int32(503)))
		g.Expect(got.Status.NextAttemptTime.Equal(&next)).To(BeTrue())
		g.Expect(got.Status.Conditions).To(HaveLen(1))
	})
}

func TestCRDNamesAndPrinterColumns(t *testing.T) {
	type column struct {
		Name     string
		Type     string
		JSONPath string
		Priority int32
	}
	tests := []struct {
		crd            string
		shortNames     []string
		notShortNames  []string
		categories     []string
		printerColumns []column
	}{
		{
			crd:           "webhookdeliveries.webhooks.herald.dev",
			shortNames:    []string{"deliveries", "whd"},
			notShortNames: []string{"wh", "hooks"},
			categories:    []string{"webhooks"},
			printerColumns: []column{
				{"Endpoint", "string", ".spec.endpointRef.name", 0},
				{"Event", "string", ".spec.event", 0},
				{"Phase", "string", ".status.phase", 0},
				{"Attempts", "integer", ".status.attempts[-1:].number", 0},
				{"Last Status", "integer", ".status.attempts[-1:].statusCode", 0},
				{"Next Attempt", "string", ".status.nextAttemptTime", 0},
				{"Age", "date", ".metadata.creationTimestamp", 0},
				{"User", "string", ".spec.user", 1},
				{"Reason", "string", `.status.conditions[?(@.type=="Delivered")].reason`, 1},
			},
		},
		{
			crd: "webhookendpoints.webhooks.herald.dev",
			// The core Endpoints resource owns "endpoints" and "ep".
			notShortNames: []string{"endpoints", "endpoint", "ep"},
			categories:    []string{"webhooks"},
			printerColumns: []column{
				{"URL", "string", ".spec.url", 0},
				{"Ready", "string", `.status.conditions[?(@.type=="Ready")].status`, 0},
				{"Suspended", "string", `.status.conditions[?(@.type=="Suspended")].status`, 0},
				{"Failure %", "integer", ".status.statistics.failurePercent", 0},
				{"Calls", "integer", ".status.statistics.calls", 0},
				{"Age", "date", ".metadata.creationTimestamp", 0},
				{"Failures", "integer", ".status.statistics.failures", 1},
				{"Users", "integer", ".status.statistics.users", 1},
				{"Reporting", "integer", ".status.statistics.usersReporting", 1},
				{"Reason", "string", `.status.conditions[?(@.type=="Ready")].reason`, 1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.crd, func(t *testing.T) {
			g := NewWithT(t)
			crd := &apiextensionsv1.CustomResourceDefinition{}
			g.Expect(k8sClient.Get(t.Context(), client.ObjectKey{Name: tc.crd}, crd)).To(Succeed())

			g.Expect(crd.Spec.Names.ShortNames).To(ContainElements(tc.shortNames))
			for _, name := range tc.notShortNames {
				g.Expect(crd.Spec.Names.ShortNames).NotTo(ContainElement(name))
			}
			g.Expect(crd.Spec.Names.Categories).To(Equal(tc.categories))
			// The API server accepted the names (no conflict with another resource).
			g.Expect(crd.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.NamesAccepted),
				HaveField("Status", apiextensionsv1.ConditionTrue),
			)))
			g.Expect(crd.Status.AcceptedNames.ShortNames).To(ConsistOf(crd.Spec.Names.ShortNames))

			g.Expect(crd.Spec.Versions).To(HaveLen(1))
			var got []column
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				got = append(got, column{c.Name, c.Type, c.JSONPath, c.Priority})
			}
			g.Expect(got).To(Equal(tc.printerColumns))
		})
	}
}
