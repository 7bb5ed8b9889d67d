//go:build unix

package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	sampleEndpointFile = "config/samples/webhooks_v1alpha1_webhookendpoint.yaml"
	sampleDeliveryFile = "config/samples/webhooks_v1alpha1_webhookdelivery.yaml"
	devNamespace       = "default"
)

// devBackoff replaces the sample's retry schedule (60s, 600s) in the dev
// endpoint, so that a failed call is retried within seconds and every sample
// delivery reaches Succeeded or Failed quickly.
var devBackoff = []string{"2s", "5s"}

// samples are the objects make dev applies.
type samples struct {
	// endpointFile holds the Secret and the dev endpoint, as applied.
	endpointFile string
	objects      []*unstructured.Unstructured // the Secret and the endpoint
	endpointName string
	secrets      []string // the endpoint's whsec_ signing secret(s)
	delivery     *unstructured.Unstructured
}

// prepareSamples reads the samples of root/config/samples, writes the dev
// copy of the endpoint sample (url pointed at receiverURL, short backoff)
// to dir, and returns what to apply, read back from that copy.
func prepareSamples(root, dir, receiverURL string) (*samples, error) {
	objs, err := decodeFile(filepath.Join(root, sampleEndpointFile))
	if err != nil {
		return nil, err
	}
	var endpoint, secret *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "WebhookEndpoint":
			endpoint = o
		case "Secret":
			secret = o
		}
	}
	if endpoint == nil || secret == nil {
		return nil, fmt.Errorf("%s: want a Secret and a WebhookEndpoint", sampleEndpointFile)
	}
	if err := unstructured.SetNestedField(endpoint.Object, receiverURL, "spec", "url"); err != nil {
		return nil, err
	}
	if err := unstructured.SetNestedStringSlice(endpoint.Object, devBackoff, "spec", "retry", "backoff"); err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Written by make dev (cmd/herald-dev) on every run: %s with\n", sampleEndpointFile)
	fmt.Fprintf(&buf, "# spec.url pointed at the demo receiver and spec.retry.backoff shortened to\n")
	fmt.Fprintf(&buf, "# [%s]. Edit the sample, not this copy.\n", strings.Join(devBackoff, ", "))
	enc := json.NewYAMLSerializer(json.DefaultMetaFactory, nil, nil)
	for i, o := range objs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if err := enc.Encode(o, &buf); err != nil {
			return nil, fmt.Errorf("writing the dev endpoint: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &samples{endpointFile: filepath.Join(dir, "billing-app.yaml")}
	if err := os.WriteFile(s.endpointFile, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}

	// Apply what the file says.
	if s.objects, err = decodeFile(s.endpointFile); err != nil {
		return nil, err
	}
	for _, o := range s.objects {
		switch o.GetKind() {
		case "WebhookEndpoint":
			endpoint = o
		case "Secret":
			secret = o
		}
	}
	s.endpointName = endpoint.GetName()
	key, found, _ := unstructured.NestedString(endpoint.Object, "spec", "signingSecretRef", "key")
	if !found || key == "" {
		key = "secret"
	}
	value, err := secretValue(secret, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sampleEndpointFile, err)
	}
	s.secrets = strings.Fields(value)

	deliveries, err := decodeFile(filepath.Join(root, sampleDeliveryFile))
	if err != nil {
		return nil, err
	}
	if len(deliveries) != 1 || deliveries[0].GetKind() != "WebhookDelivery" {
		return nil, fmt.Errorf("%s: want one WebhookDelivery", sampleDeliveryFile)
	}
	s.delivery = deliveries[0]
	if s.delivery.GetName() == "" && s.delivery.GetGenerateName() == "" {
		s.delivery.SetGenerateName("delivery-")
	}
	for _, o := range append(s.objects, s.delivery) {
		if o.GetNamespace() == "" {
			o.SetNamespace(devNamespace)
		}
	}
	return s, nil
}

// secretValue returns a key of a Secret manifest, from stringData or data.
func secretValue(secret *unstructured.Unstructured, key string) (string, error) {
	if v, found, _ := unstructured.NestedString(secret.Object, "stringData", key); found {
		return v, nil
	}
	if v, found, _ := unstructured.NestedString(secret.Object, "data", key); found {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err
	}
	return "", fmt.Errorf("the Secret %s has no key %q", secret.GetName(), key)
}

// decodeFile decodes every object of a YAML (or JSON) manifest file.
func decodeFile(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if obj != nil {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
	return objs, nil
}
