package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openkassa/kassa/device/cloud"
)

// metrics are the node's Prometheus metrics (docs/fleet.md). Counters count
// this node's events: a fleet's totals are their sum over the nodes.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.HistogramVec // by route and code
	documents *prometheus.CounterVec   // state changes, by the new state
	leases    prometheus.Histogram     // a register's lease request, to its answer with documents
	callbacks *prometheus.CounterVec   // by outcome
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kassa_cloud_http_request_duration_seconds", Help: "HTTP requests served, by route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kassa_cloud_documents_total", Help: "Documents that entered each state on this node: QUEUED (posted or re-queued), PENDING (leased), PRINTED, COMPLETED, FAILED.",
		}, []string{"state"}),
		leases: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kassa_cloud_lease_duration_seconds", Help: "A register's lease request that brought documents: from the request to the answer (long-polls included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kassa_cloud_callbacks_total", Help: "Callbacks to the shops' responseURL, by outcome: delivered, refused (to be retried), given up.",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.documents, m.leases, m.callbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// document counts a document that entered state.
func (m *metrics) document(state cloud.DocState) { m.documents.WithLabelValues(string(state)).Inc() }

// statusRecorder keeps the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument times every request by the route pattern that served it.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Observe(time.Since(t0).Seconds())
	})
}

// opsRoutes serves /healthz (the process answers), /readyz (its store answers
// too: a load balancer sends it work) and /metrics (Prometheus).
func (s *Server) opsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			s.log.Warn("cloud: not ready: the store does not answer", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, cloud.APIError{Message: "the store does not answer"})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
}
