package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// Pages of several points whose documents share creation times: each
// point's branch of the query takes the cursor its own way (see
// ListDocuments), and the pages together are the whole order, once.
func TestListPagesAcrossPoints(t *testing.T) {
	s := nodes(t, 1)[0]
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	type key struct {
		created   time.Time
		point, id string
	}
	var all []key
	for i := range 80 {
		k := key{created: t0.Add(time.Duration(rng.IntN(5)) * time.Second), point: fmt.Sprintf("p%d", rng.IntN(3)), id: fmt.Sprintf("d%02d", i)}
		_, _, err := s.PostDocument(ctx, storage.NewDocument{PointID: k.point, ID: k.id, Hash: k.id, Body: []byte("{}"), At: k.created})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, k)
	}
	slices.SortFunc(all, func(a, b key) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		if c := strings.Compare(b.point, a.point); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	q := storage.DocQuery{Points: []storage.PointRange{{PointID: "p0"}, {PointID: "p1"}, {PointID: "p2"}}, Limit: 7}
	var got []key
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("the pages do not end")
		}
		page, err := s.ListDocuments(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Documents {
			got = append(got, key{d.Created, d.PointID, d.ID})
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if !slices.Equal(got, all) {
		t.Fatalf("pages:\n%v\nwant:\n%v", got, all)
	}
}
