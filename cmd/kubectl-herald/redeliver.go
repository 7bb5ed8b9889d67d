package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

// redeliveryOfLabel is set on a redelivery to the name of the delivery it
// repeats.
const redeliveryOfLabel = "webhooks.herald.dev/redelivery-of"

func redeliverCommand() *command {
	return &command{
		name:  "redeliver",
		args:  "DELIVERY",
		short: "Send a Failed delivery again, with the same webhook id",
		long: `Create a new WebhookDelivery that repeats a Failed one, and print its name.

The new delivery (named DELIVERY-redeliver-<random>, labelled
` + redeliveryOfLabel + `=DELIVERY) has the same endpoint, event, user and
payload, and the same webhook id: the original's spec.id, or its UID when it
had none, so a receiver that got the call after all drops the duplicate.

Only a Failed delivery is redelivered; --force sends any other again too (a
Succeeded one, or one still in progress, which may then arrive twice under
the same webhook id).

-o json or -o yaml prints the new delivery instead of its name.`,
		example: `  kubectl herald redeliver logout-9qz4m
  kubectl get deliveries -l ` + redeliveryOfLabel + `=logout-9qz4m
`,
		positional: []string{"DELIVERY"},
		flags: func(a *app, fs *pflag.FlagSet) func(context.Context, *runEnv, []string) error {
			var force bool
			fs.BoolVar(&force, "force", false, "redeliver a delivery that is not Failed")
			return func(ctx context.Context, env *runEnv, args []string) error {
				c, ns, err := env.connect()
				if err != nil {
					return err
				}
				return redeliver(ctx, c, ns, args[0], force, env.streams)
			}
		},
	}
}

// redeliver creates a copy of a Failed delivery with the same webhook id.
func redeliver(ctx context.Context, c client.Client, namespace, name string, force bool, s streams) error {
	var orig heraldv1.WebhookDelivery
	if err := get(ctx, c, "webhookdelivery", namespace, name, &orig); err != nil {
		return err
	}
	if phase := orig.Status.Phase; phase != heraldv1.DeliveryFailed && !force {
		state := fmt.Sprintf("is %s", phase)
		if phase == "" {
			state = "has no phase yet"
		}
		return fmt.Errorf("webhookdelivery %q %s, not Failed: only a Failed delivery is redelivered (--force sends it again anyway, with the same webhook id)", name, state)
	}
	d := &heraldv1.WebhookDelivery{}
	d.Namespace = namespace
	d.GenerateName = name + "-redeliver-"
	if len(validation.IsValidLabelValue(name)) == 0 {
		d.Labels = map[string]string{redeliveryOfLabel: name}
	} else {
		fmt.Fprintf(s.warn, "warning: %q is too long for a label value: the redelivery has no %s label\n", name, redeliveryOfLabel)
	}
	d.Spec = heraldv1.WebhookDeliverySpec{
		EndpointRef: orig.Spec.EndpointRef,
		ID:          orig.WebhookID(),
		Event:       orig.Spec.Event,
		User:        orig.Spec.User,
		Payload:     *orig.Spec.Payload.DeepCopy(),
	}
	if err := c.Create(ctx, d, client.FieldOwner(fieldManager)); err != nil {
		return explain(err, "webhookdelivery", namespace, d.GenerateName)
	}
	return s.printCreated(d)
}
