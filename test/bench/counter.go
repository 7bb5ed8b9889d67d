package main

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// apiCounter counts the API requests made through a rest.Config it wraps
// (rest.Config.WrapTransport), by verb and resource, and per delivery for
// requests whose URL names one (…/webhookdeliveries/NAME[/status]).
type apiCounter struct {
	mu          sync.Mutex
	byKind      map[string]int64 // "PATCH webhookdeliveries/status"
	perDelivery map[string]*deliveryRequests
}

// deliveryRequests are the requests whose URL names one delivery.
type deliveryRequests struct {
	statusWrites int // PATCH or PUT of …/status
	byKind       map[string]int
	// lastStatusWrite is when the API server acknowledged the last
	// status write: for a delivery that ended Succeeded, the write that
	// made it so.
	lastStatusWrite time.Time
}

func newAPICounter() *apiCounter {
	c := &apiCounter{}
	c.reset()
	return c
}

func (c *apiCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKind = map[string]int64{}
	c.perDelivery = map[string]*deliveryRequests{}
}

// wrap is a rest.Config.WrapTransport.
func (c *apiCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		name, statusWrite := c.record(req)
		resp, err := next.RoundTrip(req)
		if statusWrite && err == nil && resp.StatusCode/100 == 2 {
			c.statusWritten(name, time.Now())
		}
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// record counts a request; it returns the delivery it names and whether it
// writes that delivery's status.
func (c *apiCounter) record(req *http.Request) (string, bool) {
	verb, resource, name := classifyRequest(req)
	kind := verb + " " + resource
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKind[kind]++
	if name == "" || !strings.HasPrefix(resource, "webhookdeliveries") {
		return "", false
	}
	d := c.delivery(name)
	d.byKind[kind]++
	if resource == "webhookdeliveries/status" && (verb == "PATCH" || verb == "UPDATE") {
		d.statusWrites++
		return name, true
	}
	return name, false
}

func (c *apiCounter) delivery(name string) *deliveryRequests {
	d := c.perDelivery[name]
	if d == nil {
		d = &deliveryRequests{byKind: map[string]int{}}
		c.perDelivery[name] = d
	}
	return d
}

// statusWritten records when the API server acknowledged a status write.
func (c *apiCounter) statusWritten(name string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delivery(name).lastStatusWrite = at
}

// snapshot returns copies of the counts.
func (c *apiCounter) snapshot() (byKind map[string]int64, perDelivery map[string]deliveryRequests) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byKind = make(map[string]int64, len(c.byKind))
	for k, v := range c.byKind {
		byKind[k] = v
	}
	perDelivery = make(map[string]deliveryRequests, len(c.perDelivery))
	for k, v := range c.perDelivery {
		cp := deliveryRequests{statusWrites: v.statusWrites, lastStatusWrite: v.lastStatusWrite, byKind: make(map[string]int, len(v.byKind))}
		for kk, vv := range v.byKind {
			cp.byKind[kk] = vv
		}
		perDelivery[k] = cp
	}
	return byKind, perDelivery
}

// classifyRequest names a Kubernetes API request by verb (GET, LIST, WATCH,
// CREATE, UPDATE, PATCH, DELETE, DELETECOLLECTION), resource (with
// subresource: "webhookdeliveries/status") and object name.
func classifyRequest(req *http.Request) (verb, resource, name string) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return req.Method, "(non-resource " + req.URL.Path + ")", ""
	}
	// Namespaced paths: namespaces/NS/RESOURCE[/NAME[/SUB]]; but
	// namespaces/NAME[/status|finalize] is the namespace itself.
	if len(rest) >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize" {
		rest = rest[2:]
	}
	if len(rest) > 0 {
		resource = rest[0]
	}
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		resource += "/" + strings.Join(rest[2:], "/")
	}
	switch req.Method {
	case http.MethodGet:
		switch {
		case name != "":
			verb = "GET"
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			verb = "WATCH"
		default:
			verb = "LIST"
		}
	case http.MethodPost:
		verb = "CREATE"
	case http.MethodPut:
		verb = "UPDATE"
	case http.MethodPatch:
		verb = "PATCH"
	case http.MethodDelete:
		verb = "DELETE"
		if name == "" {
			verb = "DELETECOLLECTION"
		}
	default:
		verb = req.Method
	}
	return verb, resource, name
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
