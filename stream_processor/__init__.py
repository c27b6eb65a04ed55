"""stream_processor"""
