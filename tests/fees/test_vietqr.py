"""VietQR: the EMVCo payload, its CRC, finding our code in a bank transfer description."""

from fees.gateways import vietqr


def test_crc_is_ccitt_false_with_the_standard_check_value():
    assert vietqr.crc16_ccitt_false("123456789") == "29B1"


def test_payload_carries_napas_guid_bank_account_amount_and_code():
    payload = vietqr.emv_payload(bank_bin="970436", account="0011000000001", amount=200000,
                                 description="HCC ABCDEFGHJK")
    top = vietqr.parse_tlv(payload)
    assert top["00"] == "01" and top["01"] == "12" and top["53"] == "704" and top["58"] == "VN"
    assert top["54"] == "200000"
    merchant = vietqr.parse_tlv(top["38"])
    assert merchant["00"] == "A000000727" and merchant["02"] == "QRIBFTTA"
    assert vietqr.parse_tlv(merchant["01"]) == {"00": "970436", "01": "0011000000001"}
    assert vietqr.parse_tlv(top["62"]) == {"08": "HCC ABCDEFGHJK"}
    assert payload[-8:-4] == "6304" and vietqr.crc16_ccitt_false(payload[:-4]) == payload[-4:]


def test_code_is_found_whatever_the_bank_adds():
    assert vietqr.code_in_description("NGUYEN VAN A chuyen tien hcc abcdefghjk FT2601") == "ABCDEFGHJK"
    assert vietqr.code_in_description("HCCABCDEFGHJK") == "ABCDEFGHJK"
    assert vietqr.code_in_description("chuyen tien hoc phi") is None


def test_the_qr_carries_the_account_given_or_else_the_settings_one():
    from types import SimpleNamespace

    from core.settings import Settings
    from fees.gateways.base import MerchantAccount

    settings = Settings.from_env(environ={})
    payment = SimpleNamespace(amount=200000, code="ABCDEFGHJK")

    def beneficiary(gateway):
        return vietqr.parse_tlv(vietqr.parse_tlv(vietqr.parse_tlv(gateway.qr_payload(payment))["38"])["01"])

    assert beneficiary(vietqr.VietqrGateway(settings)) == {"00": "970436", "01": "0011000000001"}
    unit = MerchantAccount(gateway="vietqr", owner="unit:STP", bank_bin="970415", account_number="113000006789",
                           account_name="SO TU PHAP TINH BAC NINH")
    gateway = vietqr.VietqrGateway(settings, unit)
    assert beneficiary(gateway) == {"00": "970415", "01": "113000006789"}
    assert gateway.checkout(payment).extra["account_name"] == "SO TU PHAP TINH BAC NINH"
