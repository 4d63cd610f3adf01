package cost

import "fmt"

// LockExtensions estimates extending the S3 Object Lock of n objects of
// class: for each, one HEAD (its current lock; GET price) and one
// PutObjectRetention. AWS's pricing page does not list PutObjectRetention
// apart; it is priced as a PUT of the object's class, the upper bound
// (docs/COSTS.md, "The cost of immutability").
func (p *Prices) LockExtensions(class Class, n int64) (Estimate, error) {
	if n < 0 {
		return Estimate{}, fmt.Errorf("negative object count %d", n)
	}
	cp, err := p.Class(class)
	if err != nil {
		return Estimate{}, err
	}
	var e Estimate
	name := className(class)
	e.requests(fmt.Sprintf("lock extensions: PutObjectRetention (%s)", name), n, cp.PutPer1000)
	e.requests(fmt.Sprintf("lock extensions: HEAD for the current lock (%s)", name), n, cp.GetPer1000)
	e.note("PutObjectRetention is priced as a PUT of the object's class: AWS does not list it apart, so this is the upper bound")
	return e, nil
}
