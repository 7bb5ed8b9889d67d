package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// signingKeys returns the endpoint's signing keys: nil when it names no
// signing Secret, a *secretProblem when the Secret cannot be used, any other
// error when the API server could not be read.
func signingKeys(ctx context.Context, c client.Reader, ep *heraldv1.WebhookEndpoint) ([]signing.Key, error) {
	ref := ep.Spec.SigningSecretRef
	if ref == nil {
		return nil, nil
	}
	key := ep.GetSigningSecretKey()
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ep.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &secretProblem{heraldv1.ReasonSigningSecretNotFound,
				fmt.Sprintf("signing Secret %q not found in namespace %q", ref.Name, ep.Namespace)}
		}
		return nil, fmt.Errorf("reading signing Secret %q: %w", ref.Name, err)
	}
	value, ok := secret.Data[key]
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
