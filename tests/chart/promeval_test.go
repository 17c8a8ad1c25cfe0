package chart_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	pql "github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/stretchr/testify/require"
)

// memPrometheus is a Prometheus reduced to what rule tests need: series appended by hand (scrapes of a
// text fixture, recording-rule results) and Prometheus' own PromQL engine evaluating queries over them.
type memPrometheus struct {
	engine *pql.Engine
	series map[string]*memSeries // by labels.String()
}

type memSeries struct {
	lset    labels.Labels
	samples []chunks.Sample
}

func newMemPrometheus() *memPrometheus {
	return &memPrometheus{
		engine: pql.NewEngine(pql.EngineOpts{MaxSamples: 1_000_000, Timeout: 30 * time.Second, LookbackDelta: 5 * time.Minute}),
		series: map[string]*memSeries{},
	}
}

// add appends one float sample; samples of a series must be added in time order.
func (p *memPrometheus) add(lset labels.Labels, ts time.Time, v float64) {
	key := lset.String()
	s, ok := p.series[key]
	if !ok {
		s = &memSeries{lset: lset}
		p.series[key] = s
	}
	s.samples = append(s.samples, floatSample{t: ts.UnixMilli(), f: v})
}

// scrape parses a text-format fixture and appends its samples at ts with the target's labels attached as
// Prometheus does: with honorLabels the exposed labels win (an exposed empty value keeps the target's label
// off too), without it a clashing exposed label is kept as exported_<name>.
func (p *memPrometheus) scrape(t *testing.T, path string, target map[string]string, honorLabels bool, ts time.Time, adjust func(name string, v float64) float64) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(f)
	require.NoError(t, err, "fixture %s is not in the Prometheus text format", path)
	require.NotEmpty(t, families, path)
	for name, fam := range families {
		require.Equal(t, dto.MetricType_GAUGE, fam.GetType(), "%s: %s", path, name)
		for _, m := range fam.GetMetric() {
			exposed := map[string]string{}
			for _, lp := range m.GetLabel() {
				exposed[lp.GetName()] = lp.GetValue()
			}
			b := labels.NewBuilder(labels.EmptyLabels())
			for k, v := range exposed {
				b.Set(k, v)
			}
			for k, v := range target {
				old, present := exposed[k]
				switch {
				case honorLabels && present:
				case !honorLabels && old != "":
					b.Set("exported_"+k, old)
					b.Set(k, v)
				default:
					b.Set(k, v)
				}
			}
			b.Set(labels.MetricName, name)
			v := m.GetGauge().GetValue()
			if adjust != nil {
				v = adjust(name, v)
			}
			p.add(b.Labels(), ts, v) // the builder drops empty values, as the scrape does
		}
	}
}

// query evaluates an instant query and returns its vector.
func (p *memPrometheus) query(t *testing.T, q string, ts time.Time) pql.Vector {
	t.Helper()
	qry, err := p.engine.NewInstantQuery(context.Background(), p, nil, q, ts)
	require.NoError(t, err, "query %s", q)
	defer qry.Close()
	res := qry.Exec(context.Background())
	require.NoError(t, res.Err, "query %s", q)
	vec, err := res.Vector()
	require.NoError(t, err, "query %s", q)
	return vec
}

// record evaluates a recording rule at ts and appends its result under the rule's name, as the rule
// manager does.
func (p *memPrometheus) record(t *testing.T, name, expr string, ts time.Time) pql.Vector {
	t.Helper()
	vec := p.query(t, expr, ts)
	for _, s := range vec {
		b := labels.NewBuilder(s.Metric)
		b.Set(labels.MetricName, name)
		p.add(b.Labels(), ts, s.F)
	}
	return vec
}

// Querier implements storage.Queryable.
func (p *memPrometheus) Querier(_, _ int64) (storage.Querier, error) { return memQuerier{p}, nil }

type memQuerier struct{ p *memPrometheus }

func (q memQuerier) Select(_ context.Context, _ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range q.p.series {
		ok := true
		for _, m := range matchers {
			if !m.Matches(s.lset.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, storage.NewListSeries(s.lset, s.samples))
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &listSeriesSet{series: out, i: -1}
}

func (memQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, fmt.Errorf("label values are not needed by these tests")
}

func (memQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, fmt.Errorf("label names are not needed by these tests")
}

func (memQuerier) Close() error { return nil }

type listSeriesSet struct {
	series []storage.Series
	i      int
}

func (s *listSeriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *listSeriesSet) At() storage.Series              { return s.series[s.i] }
func (*listSeriesSet) Err() error                        { return nil }
func (*listSeriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is a float sample for storage.NewListSeries.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }
