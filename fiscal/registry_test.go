package fiscal

import (
	"slices"
	"testing"
)

// ffdTable is every tag of FFD105.md's table, plus the nested and document tags.
var ffdTable = []Tag{1000, 1001, 1002, 1005, 1008, 1009, 1012, 1013, 1016, 1017, 1018, 1020, 1021, 1023, 1026,
	1030, 1031, 1036, 1037, 1038, 1040, 1041, 1042, 1043, 1044, 1046, 1048, 1054, 1055, 1056, 1057, 1059, 1060,
	1062, 1050, 1051, 1052, 1053, 1068, 1073, 1074, 1075, 1077, 1078, 1079, 1081, 1084, 1097, 1098, 1102, 1103,
	1104, 1105, 1106, 1107, 1108, 1111, 1116, 1117, 1118, 1162, 1171, 1173, 1174, 1187, 1188, 1189, 1190, 1192,
	1197, 1199, 1200, 1203, 1209, 1212, 1214, 1215, 1216, 1217, 1222, 1223, 1224, 1225, 1226, 1227, 1228, 1230,
	1231, 1022, 1085, 1086, 1177, 1178, 1179, 1, 11, 2, 21, 3, 31, 5, 6, 7,
	1109, 1110, 1115, 1119, 1120, 1101, 1126, 1193, 1207, 1221}

func TestRegistryComplete(t *testing.T) {
	for _, tag := range ffdTable {
		ti, ok := LookupTag(tag)
		if !ok {
			t.Errorf("tag %d missing from the registry", tag)
			continue
		}
		if ti.Name == "" || ti.Type == 0 || ti.Max == 0 {
			t.Errorf("tag %d: incomplete entry %+v", tag, ti)
		}
	}
	if len(Tags()) != len(ffdTable) {
		t.Errorf("registry has %d tags, the table %d", len(Tags()), len(ffdTable))
	}
}

func TestRegistryTypes(t *testing.T) {
	cases := []struct {
		tag  Tag
		typ  DataType
		max  int
		name string
	}{
		{1000, TypeString, 256, "наименование документа"},
		{1012, TypeTime, 4, "дата, время"},
		{1020, TypeVLN, 6, "сумма расчёта, указанного в чеке"},
		{1023, TypeFVLN, 8, "количество предмета расчёта"},
		{1040, TypeUint32, 4, "номер ФД"},
		{1054, TypeByte, 1, "признак расчёта"},
		{1059, TypeSTLV, 1024, "предмет расчёта"},
		{1077, TypeBytes, 6, "ФПД"},
		{1078, TypeBytes, 18, "ФПО"},
		{1162, TypeBytes, 32, "код товара"},
		{1174, TypeSTLV, 292, "основание для коррекции"},
		{1178, TypeTime, 4, "дата документа основания"},
	}
	for _, c := range cases {
		ti, _ := LookupTag(c.tag)
		if ti.Type != c.typ || ti.Max != c.max || ti.Name != c.name {
			t.Errorf("tag %d = %s/%d/%q, want %s/%d/%q", c.tag, ti.Type, ti.Max, ti.Name, c.typ, c.max, c.name)
		}
	}
}

func TestRequiredSets(t *testing.T) {
	cases := []struct {
		ctx  Tag
		want []Tag
	}{
		// FFD105.md, "Receipt": always present, with the five payment sums.
		{DocReceipt, []Tag{1000, 1009, 1012, 1018, 1020, 1031, 1037, 1038, 1040, 1041, 1042, 1048, 1054, 1055,
			1059, 1077, 1081, 1187, 1209, 1215, 1216, 1217}},
		// "Shift reports": open.
		{DocShiftOpen, []Tag{1000, 1009, 1012, 1018, 1037, 1038, 1040, 1041, 1048, 1077, 1187, 1188, 1189, 1209}},
		// close: the counters, without 1188 and 1189 (yandex/ofd's closeShift
		// lists neither), with 1098 and the four warnings always (it requires them).
		{DocShiftClose, []Tag{1000, 1009, 1012, 1018, 1037, 1038, 1040, 1041, 1048, 1050, 1051, 1052, 1053, 1077,
			1097, 1098, 1111, 1118, 1187, 1209}},
		// state: 1002, 1097, 1098 and 1116 (yandex/ofd's currentStateReport).
		{DocStateReport, []Tag{1000, 1002, 1009, 1012, 1018, 1037, 1040, 1041, 1048, 1077, 1097, 1098, 1116, 1187, 1209}},
		// registration: yandex/ofd's fiscalReport (printInMachineSign 1221,
		// bsoSign 1110, serviceSign 1109, operator 1021, ofdInn 1017 …) with
		// FFD105.md's 1000, 1009, 1060, 1190.
		{DocRegistration, []Tag{1000, 1001, 1002, 1009, 1012, 1013, 1017, 1018, 1021, 1037, 1040, 1041, 1048,
			1056, 1060, 1062, 1077, 1108, 1109, 1110, 1187, 1188, 1189, 1190, 1209, 1221}},
		{DocRegistrationChange, []Tag{1000, 1001, 1002, 1009, 1012, 1013, 1017, 1018, 1021, 1037, 1040, 1041,
			1048, 1056, 1060, 1062, 1077, 1101, 1108, 1109, 1110, 1187, 1188, 1189, 1190, 1209, 1221}},
		// drive close: yandex/ofd's closeArchive (operator 1021) and the last shift 1038.
		{DocDriveClose, []Tag{1000, 1009, 1012, 1018, 1021, 1037, 1038, 1040, 1041, 1048, 1077, 1187, 1209}},
		{DocCorrection, []Tag{1000, 1009, 1012, 1018, 1020, 1021, 1031, 1037, 1038, 1040, 1041, 1042, 1048, 1054,
			1055, 1077, 1081, 1173, 1174, 1187, 1209, 1215, 1216, 1217}},
		// An OFD without the fiscal crypto sends no 1078.
		{DocOperatorAck, []Tag{1012, 1017, 1040, 1041, 1068}},
		{TagVATSums, []Tag{1119}},
		{TagVATSumByRate, []Tag{1120, 1199}},
		{TagItem, []Tag{1023, 1030, 1043, 1079, 1199, 1212, 1214}},
		{TagCorrectionBasis, []Tag{1177, 1178, 1179}},
		{TagUserRequisite, []Tag{1085, 1086}},
		{TagOFDMessage, []Tag{1022}},
	}
	for _, c := range cases {
		if got := RequiredIn(c.ctx); !slices.Equal(got, c.want) {
			t.Errorf("RequiredIn(%d) = %v, want %v", c.ctx, got, c.want)
		}
	}
	// The drive signs every document but the OFD's acknowledgement.
	for _, doc := range []Tag{1, 11, 2, 21, 3, 31, 5, 6} {
		for _, tag := range []Tag{1040, 1041, 1012, 1077} {
			if PresenceIn(doc, tag) != Required {
				t.Errorf("%d is not required in document %d", tag, doc)
			}
		}
	}
}

func TestPresence(t *testing.T) {
	cases := []struct {
		ctx, tag Tag
		want     Presence
	}{
		{DocReceipt, 1059, Required},
		{DocCorrection, 1059, Forbidden},
		{DocCorrection, 1174, Required},
		{DocReceipt, 1174, Forbidden},
		{DocReceipt, 1030, Forbidden},
		{DocReceipt, 1102, Optional},
		{DocReceipt, 1084, Optional},
		{DocShiftOpen, 1021, Optional},
		{DocShiftOpen, 1059, Forbidden},
		{DocShiftClose, 1116, Optional},
		{DocOperatorAck, 1077, Forbidden},
		{DocRegistration, 1013, Required},
		{TagItem, 1162, Optional},
		{TagItem, 1054, Forbidden},
		{TagItemAgent, 1044, Optional},
		{TagItemSupplier, 1225, Optional},
		{TagItemSupplier, 1226, Forbidden}, // the supplier's INN stands beside 1224, in the item
		{TagItem, 1226, Optional},
	}
	for _, c := range cases {
		if got := PresenceIn(c.ctx, c.tag); got != c.want {
			t.Errorf("PresenceIn(%d, %d) = %s, want %s", c.ctx, c.tag, got, c.want)
		}
	}
}
