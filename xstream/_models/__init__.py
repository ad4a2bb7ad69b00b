"""_models"""
