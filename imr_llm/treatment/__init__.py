"""The treatment lexicon: drug and service names resolved to DWC categories."""
