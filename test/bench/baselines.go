package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// APIBaseline is what the API server allows without herald: the same
// client creates N deliveries of the same size, in a namespace herald does
// not watch, and writes one status (the one herald writes after a
// successful first attempt) on each, with the same concurrency.
type APIBaseline struct {
	N                   int     `json:"n"`
	Concurrency         int     `json:"concurrency"`
	Seconds             float64 `json:"seconds"`
	DeliveriesPerSecond float64 `json:"deliveries_per_second"`
	// Latency is of one create plus one status write.
	Latency    Latency `json:"create_plus_status_write"`
	CPUSeconds float64 `json:"process_cpu_seconds"`

	namespace string // holds its deliveries
}

// HTTPBaseline is what the receiver allows without herald: a plain loop
// POSTing the same N payloads with herald's concurrency.
type HTTPBaseline struct {
	N                 int     `json:"n"`
	Concurrency       int     `json:"concurrency"`
	Seconds           float64 `json:"seconds"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	Latency           Latency `json:"latency"`
	CPUSeconds        float64 `json:"process_cpu_seconds"`
}

func (b *bench) runAPIBaseline(ctx context.Context, n int) (*APIBaseline, error) {
	ns, err := b.createNamespace(ctx, "bench-api")
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, n)
	cpu0 := cpuSeconds()
	start := time.Now()
	err = forEach(ctx, n, b.opts.concurrency, 0, func(i int) error {
		d := delivery(ns, fmt.Sprintf("a-%06d", i), "no-such-endpoint", i)
		t := time.Now()
		if err := b.createWithRetry(ctx, d); err != nil {
			return fmt.Errorf("API baseline: creating %s: %w", d.Name, err)
		}
		original := d.DeepCopy()
		succeededStatus(d, time.Now())
		if err := b.c.Status().Patch(ctx, d, client.MergeFrom(original)); err != nil {
			return fmt.Errorf("API baseline: writing the status of %s: %w", d.Name, err)
		}
		lat[i] = time.Since(t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	return &APIBaseline{
		N:                   n,
		Concurrency:         b.opts.concurrency,
		Seconds:             round3(secs),
		DeliveriesPerSecond: round3(float64(n) / secs),
		Latency:             latencyOf(lat),
		CPUSeconds:          round3(cpuSeconds() - cpu0),
		namespace:           ns,
	}, nil
}

func (b *bench) runHTTPBaseline(ctx context.Context, n int) (*HTTPBaseline, error) {
	conc := b.opts.httpConcurrency
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, IdleConnTimeout: 90 * time.Second}}
	defer hc.CloseIdleConnections()
	prefix := fmt.Sprintf("http-%d", b.nextSeq())
	url := b.rcv.URL + "/ok/http-baseline"
	lat := make([]time.Duration, n)
	cpu0 := cpuSeconds()
	start := time.Now()
	err := forEach(ctx, n, conc, 0, func(i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload(i)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", fmt.Sprintf("%s-%d", prefix, i))
		t := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("HTTP baseline: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		lat[i] = time.Since(t)
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("HTTP baseline: receiver answered %d", resp.StatusCode)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	b.rcv.forget()
	return &HTTPBaseline{
		N:                 n,
		Concurrency:       conc,
		Seconds:           round3(secs),
		RequestsPerSecond: round3(float64(n) / secs),
		Latency:           latencyOf(lat),
		CPUSeconds:        round3(cpu),
	}, nil
}
