"""_resources"""
