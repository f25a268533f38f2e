package pgstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

// BenchmarkPost: shops' posts to one node, from as many goroutines as
// -cpu says, each its own document; posts/s is the figure to compare.
func BenchmarkPost(b *testing.B) {
	s, err := Open(context.Background(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	body := []byte(`{"docType":"SALE","moneyPositions":[{"paymentType":"CARD","sum":10.00}]}`)
	var n atomic.Int64
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("d%d", n.Add(1))
			_, created, err := s.PostDocument(context.Background(), storage.NewDocument{PointID: fmt.Sprintf("p%d", n.Load()%8),
				ID: id, Hash: id, Body: body, Message: "queued", At: t0})
			if err != nil || !created {
				b.Errorf("post %s: %v %v", id, created, err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "posts/s")
}
