package connector

import "testing"

func TestRequestObserver(t *testing.T) {
	var none RequestObserver
	none.Observe(Request{Endpoint: "ListFindings"}) // a nil observer observes nothing

	var got []Request
	var o RequestObserver = func(r Request) { got = append(got, r) }
	o.Observe(Request{Endpoint: "get_endpoint", Status: 200, Retry: true})
	if len(got) != 1 || got[0].Endpoint != "get_endpoint" || got[0].Status != 200 || !got[0].Retry {
		t.Errorf("observed %+v", got)
	}
}
