package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// streams says where a verb writes.
type streams struct {
	// out gets the verb's result: a name, a report, or the data of -o.
	out io.Writer
	// info gets messages for people: out, or stderr when -o prints data on
	// out.
	info io.Writer
	// warn gets warnings (stderr).
	warn io.Writer
	// output is "", "json" or "yaml".
	output string
}

func newStreams(stdout, stderr io.Writer, output string) streams {
	s := streams{out: stdout, info: stdout, warn: stderr, output: output}
	if output != "" {
		s.info = stderr
	}
	return s
}

// printCreated prints a created object: its name, or the object with -o.
func (s streams) printCreated(obj client.Object) error {
	if s.output == "" {
		_, err := fmt.Fprintln(s.out, obj.GetName())
		return err
	}
	return printObject(s.out, obj, s.output)
}

// printObject prints a Kubernetes object as JSON or YAML, with its
// apiVersion and kind and without managedFields (as kubectl does).
func printObject(w io.Writer, obj client.Object, format string) error {
	obj = obj.DeepCopyObject().(client.Object)
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	obj.SetManagedFields(nil)
	return printData(w, obj, format)
}

// printData prints any value as indented JSON or as YAML.
func printData(w io.Writer, v any, format string) error {
	var out []byte
	var err error
	switch format {
	case "json":
		out, err = json.MarshalIndent(v, "", "    ")
		out = append(out, '\n')
	case "yaml":
		out, err = yaml.Marshal(v)
	default:
		return fmt.Errorf("unknown output format %q: use -o json or -o yaml", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// get reads an object and explains the usual failures in plain words.
func get(ctx context.Context, c client.Reader, kind, namespace, name string, obj client.Object) error {
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj)
	return explain(err, kind, namespace, name)
}

// explain turns an API error about kind/name into a clear message; nil
// stays nil.
func explain(err error, kind, namespace, name string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %q not found in namespace %q", kind, name, namespace)
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the cluster does not know %s (webhooks.herald.dev/v1alpha1): are herald's CRDs installed? (make install): %w", kind, err)
	default:
		return err
	}
}

// timeAndAge formats a time as RFC 3339 in UTC and how long before now it
// was.
func timeAndAge(t, now time.Time) string {
	s := t.UTC().Format(time.RFC3339)
	if d := now.Sub(t); d >= 0 {
		return fmt.Sprintf("%s (%s ago)", s, shortDuration(d))
	}
	return fmt.Sprintf("%s (in %s)", s, shortDuration(t.Sub(now)))
}

// shortDuration is a duration in its two largest units: 45s, 18m, 2h50m,
// 3d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	default:
		days, h := int(d.Hours())/24, int(d.Hours())%24
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd%dh", days, h)
	}
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
