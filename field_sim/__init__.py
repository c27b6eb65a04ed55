"""field_sim"""
