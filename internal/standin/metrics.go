package standin

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the service's own registry (no global state).
type metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	responseTime *prometheus.HistogramVec
	loadErrors   prometheus.Counter
}

// newMetrics registers the process and Go collectors, the request metrics
// and gauges that read the burner's, the ballast's and the queue's current
// state.
func newMetrics(b *burner, m *ballast, q *queue) *metrics {
	reg := prometheus.NewRegistry()
	mt := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "service_requests_total",
			Help: "Inference requests served, by status code and method.",
		}, []string{"code", "method"}),
		responseTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "service_response_time_seconds",
			Help:    "Time to answer an inference request, by status code and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"code", "method"}),
		loadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gpu_service_load_file_errors_total",
			Help: "Reads of the load file that failed (missing files are not errors: they mean no load).",
		}),
	}
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		mt.requests, mt.responseTime, mt.loadErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpu_service_cpu_target_millicores",
			Help: "CPU the service is burning now, in millicores (its pod's share of the simulated load, after clamping).",
		}, b.targetMillicores),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpu_service_cpu_overhead_millicores",
			Help: "CPU the process uses beyond its burn loop (Go runtime, HTTP, ballast), measured; the loop burns that much less so the container uses the target.",
		}, b.overheadMillicores),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpu_service_queue_utilization_ratio",
			Help: "The pod's request arrival rate over its capacity (ρ of the latency model; response time = service time / (1 − ρ), ρ capped at 0.9).",
		}, q.utilization),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpu_service_memory_target_bytes",
			Help: "Resident memory the service is holding itself to, in bytes (its pod's share of the simulated load, after clamping).",
		}, func() float64 { return float64(m.targetBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gpu_service_memory_ballast_bytes",
			Help: "Bytes of touched ballast held to reach the memory target (0 when the target is below the natural baseline).",
		}, func() float64 { return float64(m.bytes()) }),
	)
	// Initialize the request series a GET answered 200 produces, so an idle
	// pod exports 0 rather than nothing: the adapter's request-rate metric
	// then has a value for every pod, including one that just started.
	mt.requests.WithLabelValues("200", "get")
	mt.responseTime.WithLabelValues("200", "get")
	return mt
}

// instrument counts and times h in service_requests_total and
// service_response_time_seconds.
func (mt *metrics) instrument(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(mt.requests, promhttp.InstrumentHandlerDuration(mt.responseTime, h))
}

func (mt *metrics) handler() http.Handler {
	return promhttp.HandlerFor(mt.registry, promhttp.HandlerOpts{})
}
