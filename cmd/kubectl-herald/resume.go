package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

func resumeCommand() *command {
	return &command{
		name:  "resume",
		args:  "ENDPOINT",
		short: "Lift an endpoint's automatic suspension and restart its statistics window",
		long: `Resume a WebhookEndpoint: set its annotation ` + heraldv1.ResumeAnnotation + ` to the current
UTC time (RFC 3339), with a merge patch under the field manager kubectl-herald.

herald acts once on each new value: it lifts an automatic suspension
(FailureRateExceeded, IssueReportsExceeded), so held deliveries go on, and
restarts the endpoint's statistics window at that moment. On an endpoint that
is not suspended the annotation is set all the same and only restarts the
window. spec.suspend: true is not lifted by resume: set it to false instead.

-o json or -o yaml prints the patched endpoint (the messages go to stderr).`,
		example: `  kubectl herald resume billing-app -n payments
`,
		positional: []string{"ENDPOINT"},
		flags: func(a *app, fs *pflag.FlagSet) func(context.Context, *runEnv, []string) error {
			return func(ctx context.Context, env *runEnv, args []string) error {
				c, ns, err := env.connect()
				if err != nil {
					return err
				}
				return resume(ctx, c, ns, args[0], a.now(), env.streams)
			}
		},
	}
}

// resume sets the resume annotation of the endpoint to now and says what
// herald will do with it; with -o it prints the patched endpoint.
func resume(ctx context.Context, c client.Client, namespace, name string, now time.Time, s streams) error {
	var ep heraldv1.WebhookEndpoint
	if err := get(ctx, c, "webhookendpoint", namespace, name, &ep); err != nil {
		return err
	}
	value := now.UTC().Format(time.RFC3339)
	previous := ep.Annotations[heraldv1.ResumeAnnotation]
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{heraldv1.ResumeAnnotation: value}},
	})
	if err != nil {
		return err
	}
	if err := c.Patch(ctx, &ep, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldManager)); err != nil {
		return explain(err, "webhookendpoint", namespace, name)
	}

	what := fmt.Sprintf("webhookendpoint %q in namespace %q", name, namespace)
	set := fmt.Sprintf("Set %s=%s", heraldv1.ResumeAnnotation, value)
	suspended := meta.FindStatusCondition(ep.Status.Conditions, heraldv1.ConditionSuspended)
	switch {
	case ep.Spec.Suspend:
		fmt.Fprintf(s.info, "%s is suspended by spec.suspend: true, which resume does not lift; to let its deliveries go, run:\n"+
			"  kubectl patch webhookendpoint %s -n %s --type merge -p '{\"spec\":{\"suspend\":false}}'\n"+
			"%s anyway: herald restarts the statistics window at that time.\n", what, name, namespace, set)
	case suspended != nil && suspended.Status == metav1.ConditionTrue:
		fmt.Fprintf(s.info, "%s was suspended (%s: %s).\n"+
			"%s: herald lifts the suspension, its held deliveries go on, and the statistics window restarts at that time.\n",
			what, suspended.Reason, suspended.Message, set)
	default:
		fmt.Fprintf(s.info, "%s is not suspended.\n"+
			"%s anyway: herald restarts the statistics window at that time.\n", what, set)
	}
	if previous == value {
		fmt.Fprintf(s.warn, "warning: the annotation already had this value, and herald acts on a value once: run resume again in a second\n")
	}
	if s.output != "" {
		return printObject(s.out, &ep, s.output)
	}
	return nil
}
