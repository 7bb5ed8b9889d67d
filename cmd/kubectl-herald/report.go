package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

func reportCommand() *command {
	return &command{
		name:  "report",
		args:  "ENDPOINT --user USER",
		short: "Record that a user reported an issue with an endpoint's webhooks",
		long: `Create a WebhookIssueReport for ENDPOINT (named ENDPOINT-report-<random>) and
print its name.

--user is the user who reported the issue: the same value as the spec.user
of the deliveries sent about them. When 5% or more of an endpoint's users
(by default) report an issue within the window, herald suspends it.
--delivery names the delivery the report is about, if known; it must be a
delivery of ENDPOINT (a delivery already deleted is accepted).

-o json or -o yaml prints the created report instead of its name.`,
		example: `  kubectl herald report billing-app --user u-1842 --reason "still logged in after logout"
  kubectl herald report billing-app --user u-1842 --delivery logout-7xk2p -o yaml
`,
		positional: []string{"ENDPOINT"},
		flags: func(a *app, fs *pflag.FlagSet) func(context.Context, *runEnv, []string) error {
			var o reportOptions
			fs.StringVar(&o.User, "user", "", "the user who reported the issue (required)")
			fs.StringVar(&o.Reason, "reason", "", "the issue, in the user's or the support team's words")
			fs.StringVar(&o.Delivery, "delivery", "", "the WebhookDelivery the report is about")
			return func(ctx context.Context, env *runEnv, args []string) error {
				c, ns, err := env.connect()
				if err != nil {
					return err
				}
				return report(ctx, c, ns, args[0], o, env.streams)
			}
		},
	}
}

// reportOptions are the report's fields.
type reportOptions struct {
	User     string
	Reason   string
	Delivery string
}

// report creates a WebhookIssueReport about the endpoint.
func report(ctx context.Context, c client.Client, namespace, endpoint string, o reportOptions, s streams) error {
	if o.User == "" {
		return errors.New("report: --user is required: the user who reported the issue")
	}
	var ep heraldv1.WebhookEndpoint
	if err := get(ctx, c, "webhookendpoint", namespace, endpoint, &ep); err != nil {
		return err
	}
	r := &heraldv1.WebhookIssueReport{}
	r.Namespace = namespace
	r.GenerateName = endpoint + "-report-"
	r.Spec = heraldv1.WebhookIssueReportSpec{
		EndpointRef: heraldv1.EndpointReference{Name: endpoint},
		User:        o.User,
		Reason:      o.Reason,
	}
	if o.Delivery != "" {
		var d heraldv1.WebhookDelivery
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: o.Delivery}, &d)
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(s.warn, "warning: webhookdelivery %q not found in namespace %q (deleted after its retention?); the report names it all the same\n", o.Delivery, namespace)
		case err != nil:
			return explain(err, "webhookdelivery", namespace, o.Delivery)
		case d.Spec.EndpointRef.Name != endpoint:
			return fmt.Errorf("webhookdelivery %q is for endpoint %q, not %q", o.Delivery, d.Spec.EndpointRef.Name, endpoint)
		}
		r.Spec.DeliveryRef = &heraldv1.DeliveryReference{Name: o.Delivery}
	}
	if err := c.Create(ctx, r, client.FieldOwner(fieldManager)); err != nil {
		return explain(err, "webhookissuereport", namespace, r.GenerateName)
	}
	return s.printCreated(r)
}
