package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heraldv1 "github.com/herald-operator/herald/api/v1alpha1"
)

const defaultWaitTimeout = 15 * time.Minute

// pollInterval is how often --wait reads the delivery when it cannot watch.
var pollInterval = 2 * time.Second

func sendCommand() *command {
	return &command{
		name:  "send",
		args:  "-f FILE|-",
		short: "Create a WebhookDelivery from a file or stdin, and optionally wait for its outcome",
		long: `Create a WebhookDelivery from a YAML or JSON file, or from stdin with -f -,
and print its name.

The file holds one WebhookDelivery (apiVersion and kind may be left out). It
goes to its own metadata.namespace, else to -n, else to the kubeconfig
context's namespace; -n must agree with the namespace in the file. Fields the
API server sets (uid, resourceVersion, status, ...) are dropped, so the
output of 'kubectl get delivery NAME -o yaml' can be sent again under a new
name. Without a name or generateName, generateName is ENDPOINT-.

With --wait, follow the delivery until it is Succeeded or Failed, printing
each change of phase with its attempt count. The exit status is 2 when it
ended Failed, and 1 when --timeout passed first (the delivery goes on).

-o json or -o yaml prints the created delivery instead of its name; with
--wait, the final delivery, and the progress goes to stderr.`,
		example: `  kubectl herald send -f logout.yaml
  kubectl herald send -f logout.yaml --wait --timeout 20m
  kubectl get delivery logout-7xk2p -o yaml | kubectl herald send -f - -n staging
`,
		flags: func(a *app, fs *pflag.FlagSet) func(context.Context, *runEnv, []string) error {
			var o sendOptions
			var file string
			fs.StringVarP(&file, "filename", "f", "", "file holding the WebhookDelivery, or - for stdin (required)")
			fs.BoolVar(&o.Wait, "wait", false, "follow the delivery until it is Succeeded or Failed")
			fs.DurationVar(&o.Timeout, "timeout", defaultWaitTimeout, "how long --wait waits")
			return func(ctx context.Context, env *runEnv, args []string) error {
				if file == "" {
					return errors.New("send: -f FILE is required (-f - reads stdin)\nRun 'kubectl herald send --help' for usage")
				}
				if o.Timeout <= 0 {
					return fmt.Errorf("send: --timeout must be positive, not %s", o.Timeout)
				}
				in, source := a.stdin, "stdin"
				if file != "-" {
					f, err := os.Open(file)
					if err != nil {
						return err
					}
					defer f.Close() //nolint:errcheck // read only
					in, source = f, file
				}
				o.Source = source
				c, ns, err := env.connect()
				if err != nil {
					return err
				}
				o.Namespace, o.NamespaceSet = ns, env.namespaceSet
				return send(ctx, c, in, env.streams, o)
			}
		},
	}
}

// sendOptions configure send.
type sendOptions struct {
	// Source names the input in messages (a file name, or "stdin").
	Source string
	// Namespace is used when the object has none; NamespaceSet says it was
	// given explicitly, and must then agree with the object's.
	Namespace    string
	NamespaceSet bool
	Wait         bool
	Timeout      time.Duration
}

// deliveryFailedError: the delivery that send --wait followed ended Failed.
type deliveryFailedError struct {
	delivery *heraldv1.WebhookDelivery
}

func (e *deliveryFailedError) Error() string {
	d := e.delivery
	msg := fmt.Sprintf("webhookdelivery %q ended Failed after %s", d.Name, plural(int64(len(d.Status.Attempts)), "attempt", "attempts"))
	if c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered); c != nil && c.Message != "" {
		msg += ": " + c.Message
	} else if n := len(d.Status.Attempts); n > 0 {
		msg += ": " + describeAttempt(d.Status.Attempts[n-1])
	}
	return msg
}

// send creates the WebhookDelivery read from in, prints it, and with Wait
// follows it to its final phase.
func send(ctx context.Context, c client.WithWatch, in io.Reader, s streams, o sendOptions) error {
	d, err := readDelivery(in, o.Source)
	if err != nil {
		return err
	}
	switch {
	case d.Namespace == "":
		d.Namespace = o.Namespace
	case o.NamespaceSet && d.Namespace != o.Namespace:
		return fmt.Errorf("the namespace in %s (%q) does not match -n %q: leave one of them out, or make them agree", o.Source, d.Namespace, o.Namespace)
	}
	if d.Name == "" && d.GenerateName == "" && d.Spec.EndpointRef.Name != "" {
		d.GenerateName = d.Spec.EndpointRef.Name + "-"
	}
	if d.Spec.EndpointRef.Name != "" {
		// Only a hint: a delivery may be created before its endpoint.
		var ep heraldv1.WebhookEndpoint
		err := c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Spec.EndpointRef.Name}, &ep)
		switch {
		case apierrors.IsNotFound(err):
			fmt.Fprintf(s.warn, "warning: %s; the delivery waits in Pending until it exists\n",
				explain(err, "webhookendpoint", d.Namespace, d.Spec.EndpointRef.Name))
		case meta.IsNoMatchError(err):
			return explain(err, "webhookendpoint", d.Namespace, d.Spec.EndpointRef.Name)
		}
	}
	if err := c.Create(ctx, d, client.FieldOwner(fieldManager)); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("webhookdelivery %q already exists in namespace %q: a delivery cannot be changed; give the new one another name, or use generateName", d.Name, d.Namespace)
		}
		return explain(err, "webhookdelivery", d.Namespace, d.Name)
	}
	if !o.Wait {
		return s.printCreated(d)
	}
	if s.output == "" {
		if err := s.printCreated(d); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(s.info, d.Name)
	}
	final, err := waitForDelivery(ctx, c, d, o.Timeout, s.info)
	if err != nil {
		return err
	}
	if s.output != "" {
		if err := printObject(s.out, final, s.output); err != nil {
			return err
		}
	}
	if final.Status.Phase == heraldv1.DeliveryFailed {
		return &deliveryFailedError{delivery: final}
	}
	return nil
}

// readDelivery decodes the one WebhookDelivery of a YAML or JSON stream,
// strictly, and drops what the API server sets.
func readDelivery(in io.Reader, source string) (*heraldv1.WebhookDelivery, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(in, 4096)
	var docs []json.RawMessage
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", source, err)
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
			continue
		}
		docs = append(docs, raw)
	}
	switch len(docs) {
	case 0:
		return nil, fmt.Errorf("%s holds no WebhookDelivery", source)
	case 1:
	default:
		return nil, fmt.Errorf("%s holds %d objects: send one WebhookDelivery at a time", source, len(docs))
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(docs[0], &tm); err != nil {
		return nil, fmt.Errorf("%s: not a WebhookDelivery: %w", source, err)
	}
	want := heraldv1.GroupVersion.String()
	if (tm.APIVersion != "" && tm.APIVersion != want) || (tm.Kind != "" && tm.Kind != "WebhookDelivery") {
		return nil, fmt.Errorf("%s holds a %s %s, not a %s WebhookDelivery", source, tm.APIVersion, tm.Kind, want)
	}
	var d heraldv1.WebhookDelivery
	strict := json.NewDecoder(bytes.NewReader(docs[0]))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: not a valid WebhookDelivery: %w", source, err)
	}
	d.TypeMeta = metav1.TypeMeta{}
	d.ResourceVersion = ""
	d.UID = ""
	d.Generation = 0
	d.CreationTimestamp = metav1.Time{}
	d.DeletionTimestamp = nil
	d.DeletionGracePeriodSeconds = nil
	d.ManagedFields = nil
	d.SelfLink = "" //nolint:staticcheck // cleared, not used
	d.Status = heraldv1.WebhookDeliveryStatus{}
	return &d, nil
}

// waitForDelivery follows the delivery until its phase is final, printing
// every change of phase, attempt count or reason to progress. It watches,
// and falls back to reading the delivery every pollInterval when it cannot.
func waitForDelivery(ctx context.Context, c client.WithWatch, d *heraldv1.WebhookDelivery, timeout time.Duration, progress io.Writer) (*heraldv1.WebhookDelivery, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := client.ObjectKeyFromObject(d)
	last, lastLine := d, ""
	report := func(cur *heraldv1.WebhookDelivery) {
		last = cur
		if line := describeDelivery(cur); line != lastLine {
			fmt.Fprintln(progress, line)
			lastLine = line
		}
	}
	timedOut := func() error {
		stopped := fmt.Sprintf("timed out after %s", timeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			stopped = "interrupted"
		}
		return fmt.Errorf("%s waiting for webhookdelivery %q to finish (last seen: %s); it goes on: kubectl get delivery %s -n %s",
			stopped, d.Name, strings.TrimPrefix(lastLine, d.Name+": "), d.Name, d.Namespace)
	}
	for {
		var cur heraldv1.WebhookDelivery
		if err := c.Get(ctx, key, &cur); err != nil {
			if ctx.Err() != nil {
				return last, timedOut()
			}
			if apierrors.IsNotFound(err) {
				return last, fmt.Errorf("webhookdelivery %q was deleted from namespace %q before it finished", d.Name, d.Namespace)
			}
			return last, err
		}
		report(&cur)
		if cur.Status.Phase.IsFinal() {
			return &cur, nil
		}
		final, err := watchDelivery(ctx, c, &cur, report)
		switch {
		case final != nil:
			return final, nil
		case ctx.Err() != nil:
			return last, timedOut()
		case errors.Is(err, errDeleted):
			return last, fmt.Errorf("webhookdelivery %q was deleted from namespace %q before it finished", d.Name, d.Namespace)
		case err != nil:
			// No watch (permissions, a proxy): read it again a little later.
			select {
			case <-ctx.Done():
				return last, timedOut()
			case <-time.After(pollInterval):
			}
		}
	}
}

var errDeleted = errors.New("deleted")

// watchDelivery watches the delivery from its resource version and reports
// every change. It returns the delivery once final, or nil when the watch
// ended (the caller reads it again and watches anew).
func watchDelivery(ctx context.Context, c client.WithWatch, from *heraldv1.WebhookDelivery, report func(*heraldv1.WebhookDelivery)) (*heraldv1.WebhookDelivery, error) {
	w, err := c.Watch(ctx, &heraldv1.WebhookDeliveryList{}, &client.ListOptions{
		Namespace:     from.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", from.Name),
		Raw:           &metav1.ListOptions{ResourceVersion: from.ResourceVersion},
	})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				cur, ok := ev.Object.(*heraldv1.WebhookDelivery)
				if !ok {
					continue
				}
				report(cur)
				if cur.Status.Phase.IsFinal() {
					return cur, nil
				}
			case watch.Deleted:
				return nil, errDeleted
			case watch.Error:
				// Expired resource version, say: read it again.
				return nil, nil
			}
		}
	}
}

// describeDelivery is one progress line: "NAME: PHASE (REASON), N attempts
// (last: ...)".
func describeDelivery(d *heraldv1.WebhookDelivery) string {
	if d.Status.Phase == "" {
		return fmt.Sprintf("%s: no status yet (is herald running?)", d.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", d.Name, d.Status.Phase)
	if c := meta.FindStatusCondition(d.Status.Conditions, heraldv1.ConditionDelivered); c != nil && c.Reason != "" && c.Reason != string(d.Status.Phase) {
		fmt.Fprintf(&b, " (%s)", c.Reason)
	}
	n := len(d.Status.Attempts)
	fmt.Fprintf(&b, ", %s", plural(int64(n), "attempt", "attempts"))
	if n > 0 {
		fmt.Fprintf(&b, " (last: %s)", describeAttempt(d.Status.Attempts[n-1]))
	}
	if d.Status.NextAttemptTime != nil && !d.Status.Phase.IsFinal() {
		fmt.Fprintf(&b, ", next attempt at %s", d.Status.NextAttemptTime.UTC().Format(time.RFC3339))
	}
	return b.String()
}

func describeAttempt(a heraldv1.DeliveryAttempt) string {
	const maxError = 120
	switch {
	case a.Error == "" && a.StatusCode != 0:
		return fmt.Sprintf("HTTP %d", a.StatusCode)
	case a.Error == "":
		return "no answer"
	}
	msg := a.Error
	if r := []rune(msg); len(r) > maxError {
		msg = string(r[:maxError]) + "…"
	}
	return msg
}
