package controllers

import (
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// newClockedQueue returns a controller work queue whose timed waits
// (ctrl.Result.RequeueAfter: the gaps of the retry schedule) run on clk, so
// that tests step through 60 s and 600 s with a fake clock instead of
// sleeping. Error backoff stays on the real clock: it paces calls to the API
// server, not the delivery schedule, and must not stall when a fake clock
// stands still.
func newClockedQueue(clk clock.WithTicker) func(string, workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return func(name string, limiter workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
		return &clockedQueue{
			TypedRateLimitingInterface: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
				workqueue.TypedRateLimitingQueueConfig[reconcile.Request]{Name: name, Clock: clk}),
			limiter: limiter,
		}
	}
}

type clockedQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	limiter workqueue.TypedRateLimiter[reconcile.Request]
}

// AddRateLimited adds item after the rate limiter's delay, on the real clock.
func (q *clockedQueue) AddRateLimited(item reconcile.Request) {
	delay := q.limiter.When(item)
	if delay <= 0 {
		q.Add(item)
		return
	}
	time.AfterFunc(delay, func() { q.Add(item) })
}
