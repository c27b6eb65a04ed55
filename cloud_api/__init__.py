"""cloud_api"""
