package cloud_test

import (
	"encoding/json"
	"fmt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
)

// A register turns a leased shop document into the fiscal receipt it hands to the drive.
func ExampleDocument_Receipt() {
	lease := cloud.Lease{ID: "order-1045", Document: json.RawMessage(`{
		"id": "order-1045", "docType": "SALE", "email": "+79161234567",
		"inventPositions": [
			{"name": "Чайник", "price": 19.900000000000002, "quantity": 2, "vatTag": 1102},
			{"name": "Сахар", "price": 100, "quantity": 0.5, "vatTag": 1103, "discSum": 5}
		],
		"moneyPositions": [{"paymentType": "CARD", "sum": 84.80}]
	}`)}
	point := cloud.Point{ID: "p1", Name: "ООО Ромашка", INN: "7707083893", TaxSystems: fiscal.TaxSimpleIncome,
		Address: "г. Москва, ул. Тверская, д. 1", Place: "https://shop.example"}

	var d cloud.Document
	if err := json.Unmarshal(lease.Document, &d); err != nil {
		fmt.Println(err)
		return
	}
	r, err := d.Receipt(point)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range r.Items {
		fmt.Printf("%s: %d × %d = %d kopecks\n", it.Name, it.Price, it.Quantity.Value, it.Sum)
	}
	fmt.Println("card:", r.Payments.Electronic, "tax system:", r.TaxSystem, "shop id:", r.ShopID)
	// Output:
	// Чайник: 1990 × 2 = 3980 kopecks
	// Сахар: 9000 × 5 = 4500 kopecks
	// card: 8480 tax system: 2 shop id: order-1045
}
