package controllers

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
	"github.com/herald-operator/herald/internal/signing"
)

// secretProblem is a signing Secret that cannot be used as it is: missing, or
// not in whsec_ form. It is the user's to fix, so it becomes a condition
// reason rather than a retried error.
type secretProblem struct {
	reason  string
	message string
}

func (p *secretProblem) Error() string { return p.message }

// SigningSecrets reads endpoints' signing Secrets. Secrets are not cached
// by the manager (herald must not hold every Secret of the cluster); only
// their metadata is. A Secret's data, once read, is kept with its
// resourceVersion and reused while the cached metadata shows that version,
// so an attempt costs no Secret read from the API server.
type SigningSecrets struct {
	// API reads Secrets from the API server.
	API client.Reader
	// Metadata reads Secrets' metadata from the manager's cache.
	Metadata client.Reader

	mu   sync.Mutex
	read map[types.NamespacedName]readSecret
}

type readSecret struct {
	resourceVersion string
	data            map[string][]byte
}

// keys returns the endpoint's signing keys: nil when it names no signing
// Secret, a *secretProblem when the Secret cannot be used, any other error
// when the API server could not be read.
func (s *SigningSecrets) keys(ctx context.Context, ep *heraldv1.WebhookEndpoint) ([]signing.Key, error) {
	ref := ep.Spec.SigningSecretRef
	if ref == nil {
		return nil, nil
	}
	name := types.NamespacedName{Namespace: ep.Namespace, Name: ref.Name}
	data, err := s.data(ctx, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &secretProblem{heraldv1.ReasonSigningSecretNotFound,
				fmt.Sprintf("signing Secret %q not found in namespace %q", ref.Name, ep.Namespace)}
		}
		return nil, fmt.Errorf("reading signing Secret %q: %w", ref.Name, err)
	}
	key := ep.GetSigningSecretKey()
	value, ok := data[key]
	if !ok {
		return nil, &secretProblem{heraldv1.ReasonSigningSecretNotFound,
			fmt.Sprintf("signing Secret %q has no key %q", ref.Name, key)}
	}
	keys, err := signing.ParseSecrets(string(value))
	if err != nil {
		return nil, &secretProblem{heraldv1.ReasonSigningSecretInvalid,
			fmt.Sprintf("signing Secret %q key %q: %v", ref.Name, key, err)}
	}
	return keys, nil
}

// data returns the Secret's data: the kept copy while the cached metadata
// shows its version, else a fresh read.
func (s *SigningSecrets) data(ctx context.Context, name types.NamespacedName) (map[string][]byte, error) {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := s.Metadata.Get(ctx, name, meta); err == nil {
		s.mu.Lock()
		kept, ok := s.read[name]
		s.mu.Unlock()
		if ok && kept.resourceVersion == meta.ResourceVersion {
			return kept.data, nil
		}
	}
	var secret corev1.Secret
	if err := s.API.Get(ctx, name, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.mu.Lock()
			delete(s.read, name)
			s.mu.Unlock()
		}
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read == nil {
		s.read = map[types.NamespacedName]readSecret{}
	}
	s.read[name] = readSecret{resourceVersion: secret.ResourceVersion, data: secret.Data}
	return secret.Data, nil
}
