"""SMS brand name through eSMS.vn (ViHAT): customer-care messages (SmsType 2)."""
