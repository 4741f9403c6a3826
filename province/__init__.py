"""The province: centres, collecting units, fee catalogues, receipt series and encrypted credentials."""
